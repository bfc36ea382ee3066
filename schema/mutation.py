"""Mutation: the root fields that write."""

from __future__ import annotations

from uuid import UUID

import strawberry

from resolvers import conversations
from schema.context import Info
from schema.types import Conversation


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description='title defaults to "New conversation"; the owner is the caller'
    )
    async def create_conversation(self, info: Info, title: str | None = None) -> Conversation:
        return Conversation.of(await conversations.create(info.context, title))

    @strawberry.mutation
    async def rename_conversation(self, info: Info, id: UUID, title: str) -> Conversation:  # noqa: A002
        return Conversation.of(await conversations.rename(info.context, id, title))

    @strawberry.mutation(
        description=(
            "deletes the conversation and its messages; NOT_FOUND when it is not the caller's"
        )
    )
    async def delete_conversation(self, info: Info, id: UUID) -> bool:  # noqa: A002
        return await conversations.delete(info.context, id)

    @strawberry.mutation(
        description=(
            "shows the branch through messageId: it, then down to its newest descendants (the"
            " newest child at each step); the next turn continues from there"
        )
    )
    async def switch_branch(
        self, info: Info, conversation_id: UUID, message_id: UUID
    ) -> Conversation:
        row = await conversations.switch_branch(info.context, conversation_id, message_id)
        return Conversation.of(row)

    @strawberry.mutation(
        description=(
            "a new conversation holding a copy of the branch up to and including messageId;"
            " title defaults to the source's"
        )
    )
    async def fork_conversation(
        self, info: Info, message_id: UUID, title: str | None = None
    ) -> Conversation:
        return Conversation.of(await conversations.fork(info.context, message_id, title))

    @strawberry.mutation(
        description="archived conversations leave `conversations` but not search; NOT_FOUND when"
        " it is not the caller's"
    )
    async def archive_conversation(
        self,
        info: Info,
        id: UUID,  # noqa: A002
        archived: bool = True,
    ) -> Conversation:
        return Conversation.of(await conversations.archive(info.context, id, archived))

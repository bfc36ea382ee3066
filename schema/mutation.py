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

"""Query: the root fields that read."""

from __future__ import annotations

from uuid import UUID

import strawberry

from resolvers import conversations, models
from schema.context import Info
from schema.types import Conversation, ConversationConnection, ModelAlias


@strawberry.type
class Query:
    @strawberry.field(description="the caller's conversations, most recently updated first")
    async def conversations(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> ConversationConnection:
        page = await conversations.page(info.context, 20 if first is None else first, after)
        return ConversationConnection.of(page)

    @strawberry.field(description="null when it does not exist or belongs to someone else")
    async def conversation(self, info: Info, id: UUID) -> Conversation | None:  # noqa: A002
        row = await conversations.get(info.context, id)
        return Conversation.of(row) if row else None

    @strawberry.field
    def models(self, info: Info) -> list[ModelAlias]:
        return [
            ModelAlias(name=a.name, targets=list(a.targets), is_default=a.is_default)
            for a in models.aliases(info.context)
        ]

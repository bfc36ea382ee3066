"""Query: the root fields that read."""

from __future__ import annotations

from uuid import UUID

import strawberry

from resolvers import conversations, models, search
from schema.context import Info
from schema.lookahead import arguments_below
from schema.types import Conversation, ConversationConnection, ModelAlias, SearchHitConnection


@strawberry.type
class Query:
    @strawberry.field(
        description=(
            "the caller's conversations, most recently updated first; archived ones only when asked"
        )
    )
    async def conversations(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        archived: bool | None = False,
    ) -> ConversationConnection:
        # The messages each conversation is asked for are read in the same transaction.
        asked = [
            (50 if arguments.get("last") is None else arguments["last"], arguments.get("before"))
            for arguments in arguments_below(info, ("edges", "node", "messages"))
        ]
        found = await conversations.page(
            info.context, 20 if first is None else first, after, bool(archived), asked
        )
        return ConversationConnection.of(found.page, found.messages)

    @strawberry.field(
        description=(
            "full-text search over the caller's messages (any branch) and titles, best matches"
            ' first: words, "a phrase", -excluded, OR'
        )
    )
    async def search(
        self, info: Info, query: str, first: int | None = 20, after: str | None = None
    ) -> SearchHitConnection:
        page = await search.search(info.context, query, 20 if first is None else first, after)
        return SearchHitConnection.of(page)

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

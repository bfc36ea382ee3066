"""The contract's object types (shared/contract/api.graphql), built from db rows."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from enum import Enum
from uuid import UUID

import strawberry

from resolvers import conversations
from resolvers.chat.events import Usage as TurnUsage
from resolvers.chat.history import saved_tool_calls
from resolvers.conversations import MessagesArguments
from resolvers.pagination import Page
from resolvers.records import ConversationRow, MessageRow, SearchHitRow
from schema.context import Info


@strawberry.enum
class Role(Enum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    # A tool's result, handed back to the model; the call is on the assistant message before it.
    TOOL = "tool"


@strawberry.enum
class MessageStatus(Enum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    INCOMPLETE = "incomplete"


# By value, for Message.of: calling an Enum class costs several times a dict lookup, twice per
# message of every page.
_ROLES = {role.value: role for role in Role}
_STATUSES = {status.value: status for status in MessageStatus}


@strawberry.type
class User:
    id: UUID
    email: str
    created_at: datetime


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, page: Page[object]) -> PageInfo:
        return cls(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        )


@strawberry.type
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None

    @classmethod
    def of(cls, usage: TurnUsage | None) -> Usage | None:
        if usage is None:
            return None
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


@strawberry.type
class ToolCall:
    id: str
    name: str
    arguments: str = strawberry.field(description="JSON text of the arguments the model chose")


@strawberry.type
class Message:
    id: UUID
    conversation_id: UUID
    role: Role
    content: str
    created_at: datetime
    status: MessageStatus
    # The row the fields below read, only when asked: a page of 100 messages spent a tenth
    # of its time working out usage and tool calls nobody had selected.
    row: strawberry.Private[MessageRow]

    @strawberry.field(description="the provider/model target that wrote an assistant message")
    def model(self) -> str | None:
        target = self.row.metadata.get("target")
        return target if isinstance(target, str) else None

    @strawberry.field
    def usage(self) -> Usage | None:
        return Usage.of(TurnUsage.of(self.row.metadata))

    @strawberry.field(
        description=(
            "stop, length, tool_calls, content_filter, error, cancelled (stopChat),"
            " interrupted (its process died); null while streaming"
        )
    )
    def finish_reason(self) -> str | None:
        finish_reason = self.row.metadata.get("finish_reason")
        streaming = self.row.status == MessageStatus.STREAMING.value
        return finish_reason if isinstance(finish_reason, str) and not streaming else None

    @strawberry.field(description="the tool calls an assistant message made")
    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=c.id, name=c.name, arguments=c.arguments_json)
            for c in saved_tool_calls(self.row)
        ]

    # A resolver, not an attribute, only to keep the contract's field order.
    @strawberry.field(description="the message this one follows; null for a conversation's first")
    def parent_id(self) -> UUID | None:
        return self.row.parent_id

    @strawberry.field(
        description=(
            "every version of this message (edits of a user message, regenerations of a"
            " reply), oldest first, this one included"
        )
    )
    async def sibling_ids(self, info: Info) -> list[UUID]:
        return await conversations.sibling_ids(info.context, self.id)

    @classmethod
    def of(cls, row: MessageRow) -> Message:
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            role=_ROLES.get(row.role) or Role(row.role),
            content=row.content,
            created_at=row.created_at,
            status=_STATUSES.get(row.status) or MessageStatus(row.status),
            row=row,
        )


@strawberry.type
class MessageEdge:
    cursor: str
    node: Message


@strawberry.type
class MessageConnection:
    edges: list[MessageEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[MessageRow]) -> MessageConnection:
        edges = [MessageEdge(cursor=c, node=Message.of(r)) for c, r in page.items]
        return cls(edges=edges, page_info=PageInfo.of(page))  # type: ignore[arg-type]


@strawberry.type
class Conversation:
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime = strawberry.field(description="bumped whenever a message is added")
    current_message_id: UUID | None = strawberry.field(
        description=(
            "the last message of the branch shown: messages() is the path that ends here, and"
            " the next turn follows it"
        )
    )
    archived: bool = strawberry.field(
        description="left out of `conversations` unless asked for; search still finds it"
    )

    # Message pages read with the page of conversations, by their arguments (last, before).
    prefetched: strawberry.Private[dict[MessagesArguments, Page[MessageRow]] | None] = None

    @strawberry.field(
        description=(
            "the newest `last` messages of the branch shown, in chronological order; `before`"
            " pages further back"
        ),
        graphql_type=MessageConnection,
    )
    def messages(
        self, info: Info, last: int | None = 50, before: str | None = None
    ) -> MessageConnection | Awaitable[MessageConnection]:
        """A value when the page was read with its conversation, else an awaitable: a list
        of conversations completes without a task per item when none of them waits."""
        size = 50 if last is None else last
        page = self.prefetched.get((size, before)) if self.prefetched else None
        if page is not None:
            return MessageConnection.of(page)
        return self._load_messages(info, size, before)

    async def _load_messages(self, info: Info, size: int, before: str | None) -> MessageConnection:
        page = await conversations.messages(info.context, self.id, size, before)
        return MessageConnection.of(page)

    @classmethod
    def of(
        cls,
        row: ConversationRow,
        prefetched: dict[MessagesArguments, Page[MessageRow]] | None = None,
    ) -> Conversation:
        return cls(
            id=row.id,
            title=row.title,
            created_at=row.created_at,
            updated_at=row.updated_at,
            current_message_id=row.current_message_id,
            archived=row.archived,
            prefetched=prefetched,
        )


@strawberry.type
class ConversationEdge:
    cursor: str
    node: Conversation


@strawberry.type
class ConversationConnection:
    edges: list[ConversationEdge]
    page_info: PageInfo

    @classmethod
    def of(
        cls,
        page: Page[ConversationRow],
        messages: dict[UUID, dict[MessagesArguments, Page[MessageRow]]] | None = None,
    ) -> ConversationConnection:
        messages = messages or {}
        edges = [
            ConversationEdge(cursor=c, node=Conversation.of(r, messages.get(r.id)))
            for c, r in page.items
        ]
        return cls(edges=edges, page_info=PageInfo.of(page))  # type: ignore[arg-type]


@strawberry.type
class ModelAlias:
    name: str = strawberry.field(description="alias a client asks for, e.g. fast or power")
    targets: list[str] = strawberry.field(description="provider/model targets, tried in order")
    is_default: bool


@strawberry.type(description="a message that matches a search, with its conversation")
class SearchHit:
    message: Message = strawberry.field(
        description=(
            "the matching message; for a match in the title, the conversation's newest message"
        )
    )
    conversation: Conversation
    snippet: str = strawberry.field(
        description=(
            "the matching passage, each match wrapped in <mark></mark>, the rest HTML-escaped"
        )
    )

    @classmethod
    def of(cls, row: SearchHitRow) -> SearchHit:
        return cls(
            message=Message.of(row.message),
            conversation=Conversation.of(row.conversation),
            snippet=row.snippet,
        )


@strawberry.type
class SearchHitEdge:
    cursor: str
    node: SearchHit


@strawberry.type
class SearchHitConnection:
    edges: list[SearchHitEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[SearchHitRow]) -> SearchHitConnection:
        edges = [SearchHitEdge(cursor=c, node=SearchHit.of(r)) for c, r in page.items]
        return cls(edges=edges, page_info=PageInfo.of(page))  # type: ignore[arg-type]

"""What happens to a conversation, live, on every device: `conversationEvents`.

Publishers (a turn, a rename, a deletion, the ghost sweep) put only ids on the broker topic
`conversation:<id>`; each subscriber reads the rows under its own row-level security, so no
content travels through the broker and nothing reaches a subscriber its policies hide.
Publishing never fails the work that announces it: a broker fault is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from uuid import UUID

from db import conversations as conversation_queries
from db import turns as turn_queries
from db.broker import BrokerLost
from db.records import ConversationRow, MessageRow
from db.turns import STREAMING
from resolvers.chat.relay import conversation_topic
from resolvers.context import RequestContext, Services
from resolvers.errors import NotFound, UpstreamError

log = logging.getLogger("reactor.conversations")

ADDED = "added"
UPDATED = "updated"
CONVERSATION = "conversation"
DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class MessageAdded:
    message: MessageRow


@dataclass(frozen=True, slots=True)
class MessageUpdated:
    message: MessageRow


@dataclass(frozen=True, slots=True)
class ConversationUpdated:
    conversation: ConversationRow


@dataclass(frozen=True, slots=True)
class ConversationDeleted:
    id: UUID


ConversationEvent = MessageAdded | MessageUpdated | ConversationUpdated | ConversationDeleted


async def announce(
    services: Services,
    conversation_id: UUID,
    kind: str,
    item_id: UUID | None = None,
    *,
    streaming: bool = False,
) -> None:
    """`streaming`: a reply just opened, shown as it was then whatever it has become."""
    relay = services.relay
    if relay is None:
        return
    message: dict[str, object] = {"k": kind, "id": str(item_id or conversation_id)}
    if streaming:
        message["s"] = STREAMING
    try:
        await relay.broker.publish(conversation_topic(conversation_id), message)
    except Exception as exc:  # noqa: BLE001 - an announcement never fails what it announces
        log.warning("conversation event %s not published: %s", kind, type(exc).__name__)


async def follow(
    ctx: RequestContext, conversation_id: UUID
) -> AsyncGenerator[ConversationEvent, None]:
    """The conversation's events until it is deleted; NOT_FOUND when the caller cannot see
    it."""
    ctx.user_id()
    async with ctx.db() as conn:
        if await conversation_queries.get(conn, conversation_id) is None:
            raise NotFound("No such conversation.")
    relay = ctx.services.relay
    if relay is None:
        raise UpstreamError("Live conversation events are not available on this server.")
    try:
        async with relay.broker.subscribe(conversation_topic(conversation_id)) as messages:
            async for message in messages:
                event = await _read(ctx, conversation_id, message)
                if event is not None:
                    yield event
                if isinstance(event, ConversationDeleted):
                    return
    except BrokerLost:
        raise UpstreamError("Live events were interrupted; subscribe again.") from None


async def _read(
    ctx: RequestContext, conversation_id: UUID, message: dict[str, object]
) -> ConversationEvent | None:
    kind = message.get("k")
    if kind == DELETED:
        return ConversationDeleted(conversation_id)
    try:
        item = UUID(str(message.get("id")))
    except ValueError:
        return None
    async with ctx.db() as conn:
        if kind == CONVERSATION:
            conversation = await conversation_queries.get(conn, item)
            return ConversationUpdated(conversation) if conversation else None
        row = await turn_queries.message(conn, item)
    if row is None or row.conversation_id != conversation_id:
        return None
    if kind != ADDED:
        return MessageUpdated(row)
    if message.get("s") == STREAMING:
        # A fast reply may have ended before this is read: it was added as it started.
        row = replace(row, status=STREAMING, content="")
    return MessageAdded(row)

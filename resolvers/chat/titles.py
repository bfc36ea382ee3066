"""Automatic titles: after the first reply of a conversation still titled "New conversation",
the model named by `[chat] title_model` (an alias; empty turns titles off) is asked for a
short title of the turn's path, in a task of its own once the reply is saved (the reply never
waits for it).

The title is saved only where the conversation's title is still the default, in one
statement, so a title the user set meanwhile is never overwritten; it is then announced as
ConversationUpdated. A failed call leaves the default and is logged by its kind, never with
the conversation's text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from db import conversations as conversation_queries
from db.records import MessageRow
from gateway.errors import GatewayError
from gateway.request import ChatRequest, Message
from resolvers.context import RequestContext
from resolvers.conversation_events import CONVERSATION, announce
from resolvers.conversations import DEFAULT_TITLE

log = logging.getLogger("reactor.chat")

MAX_TITLE_CHARS = 80
# The most of the conversation's text the title request carries.
MAX_TRANSCRIPT_CHARS = 4000
INSTRUCTION = (
    "Write a short title (at most six words) for the conversation the user shows you. Answer"
    " with the title alone: no quotes, no punctuation at the end, no explanation."
)
_SPEAKERS = {"user": "User", "assistant": "Assistant"}
# Decoration a model may put around a title.
_DECORATION = "\"'`*#_ \u201c\u201d\u2018\u2019"


def wanted(ctx: RequestContext, path: Sequence[MessageRow]) -> bool:
    """Whether a turn whose model saw `path` ends a conversation's first exchange and titles
    are on."""
    return bool(ctx.services.chat.title_model) and (
        sum(1 for row in path if row.role == "user") == 1
    )


def transcript(path: Sequence[MessageRow]) -> str:
    lines = [
        f"{_SPEAKERS[row.role]}: {row.content}"
        for row in path
        if row.role in _SPEAKERS and row.content
    ]
    return "\n".join(lines)[:MAX_TRANSCRIPT_CHARS]


def clean_title(text: str) -> str:
    """Plain text on one line, trimmed of quotes and decoration, at most 80 characters (cut
    at a word where it can be)."""
    title = " ".join(text.split()).strip(_DECORATION).rstrip(".:;,!").strip()
    if len(title) > MAX_TITLE_CHARS:
        cut = title[:MAX_TITLE_CHARS]
        space = cut.rfind(" ")
        title = (cut[:space] if space > MAX_TITLE_CHARS // 2 else cut).rstrip(" .:;,!")
    return title


async def give_title(
    ctx: RequestContext, conversation_id: UUID, path: Sequence[MessageRow]
) -> None:
    """The task's body: ask for a title and save it where the default still stands."""
    try:
        async with ctx.db() as conn:
            conversation = await conversation_queries.get(conn, conversation_id)
        if conversation is None or conversation.title != DEFAULT_TITLE:
            return
        gateway = ctx.services.gateway
        route = gateway.resolve(ctx.services.chat.title_model)
        request = ChatRequest(
            messages=[Message("system", INSTRUCTION), Message("user", transcript(path))],
            model=ctx.services.chat.title_model,
            user=str(ctx.user_id()),
        )
        completion = await gateway.complete(request, route)
        title = clean_title(completion.text)
        if not title:
            log.info("conversation %s: the title model gave no title", conversation_id)
            return
        async with ctx.db() as conn:
            saved = await conversation_queries.title_if_default(
                conn, conversation_id, title, DEFAULT_TITLE
            )
    except GatewayError as exc:
        log.warning(
            "conversation %s: no title (%s)",
            conversation_id,
            getattr(exc, "kind", type(exc).__name__),
        )
        return
    except Exception as exc:  # noqa: BLE001 - a title is never worth more than a log line
        log.warning("conversation %s: no title (%s)", conversation_id, type(exc).__name__)
        return
    if saved:
        await announce(ctx.services, conversation_id, CONVERSATION)

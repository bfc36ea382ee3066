"""Queries of durable chat turns (migration 0009): opening one, its checkpoints and final save,
the per-user cap on turns in flight, and the processes' heartbeats and ghost sweeps.

Opening and the final save run in the caller's RLS transaction; heartbeats, sweeps and the
batched checkpoints are the process's own bookkeeping across users, in
`turn_service_transaction` (as the role `turn_service`, migration 0014).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Interval, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import refusals
from db.messages import COLUMNS, row_of
from db.records import MessageRow
from db.tables import chat_turns, messages, turn_processes

STREAMING = "streaming"
COMPLETE = "complete"
INCOMPLETE = "incomplete"

_OPEN_TURN = text(
    "select * from open_chat_turn("
    ":conversation_id, :content, :per_hour, :history_limit, :max_in_flight, :process,"
    " :parent_id, :message_id)"
)
_OPEN_REGENERATE_TURN = text(
    "select * from open_regenerate_turn("
    ":replaced, :per_hour, :history_limit, :max_in_flight, :process)"
)


async def open_turn(
    conn: AsyncConnection,
    conversation_id: UUID,
    content: str,
    *,
    per_hour: int,
    history_limit: int,
    max_in_flight: int,
    process: UUID,
    parent_id: UUID | None = None,
    message_id: UUID | None = None,
) -> tuple[list[MessageRow], MessageRow]:
    """`open_chat_turn`, one round trip: the conversation checked (ConversationNotFound) and
    the parent (BadParent: not in this conversation), the message admitted under the hourly
    limit (MessageLimitReached) and the cap on turns in flight (TurnsInFlightReached) and
    saved as a child of `parent_id` (None: of the conversation's current message), and the
    reply row created `streaming`, a child of the new message and the conversation's current
    message. Returns the newest `history_limit` messages of the new message's path oldest
    first (the new one last) and the reply.

    With `message_id` the new message is saved under that id. If the caller already sent a
    message under it (same conversation and text), nothing is written and the history comes
    back empty with the reply that message's turn opened; any other holder of the id is
    MessageIdTaken."""
    params = {
        "conversation_id": conversation_id,
        "content": content,
        "per_hour": per_hour,
        "history_limit": history_limit,
        "max_in_flight": max_in_flight,
        "process": process,
        "parent_id": parent_id,
        "message_id": message_id,
    }
    with refusals():
        result = await conn.execute(_OPEN_TURN, params)
        rows = [row_of(r) for r in result.mappings()]
    return rows[:-1], rows[-1]


async def open_regenerate_turn(
    conn: AsyncConnection,
    replaced: UUID,
    *,
    per_hour: int,
    history_limit: int,
    max_in_flight: int,
    process: UUID,
) -> tuple[list[MessageRow], MessageRow]:
    """`open_regenerate_turn`, one round trip: `replaced` checked (MessageNotFound; BadParent
    when it is not an assistant reply to a user message), the turn admitted as `open_turn`
    admits one, and a new reply row created `streaming` as a sibling of `replaced` (a child of
    the user message it answers) and made the conversation's current message. Returns that
    user message's path (it last) and the new reply."""
    params = {
        "replaced": replaced,
        "per_hour": per_hour,
        "history_limit": history_limit,
        "max_in_flight": max_in_flight,
        "process": process,
    }
    with refusals():
        result = await conn.execute(_OPEN_REGENERATE_TURN, params)
        rows = [row_of(r) for r in result.mappings()]
    return rows[:-1], rows[-1]


async def checkpoint(conn: AsyncConnection, reply_id: UUID, content: str) -> None:
    """The reply's text so far, while it is still streaming."""
    await conn.execute(
        update(messages)
        .where(messages.c.id == reply_id, messages.c.status == STREAMING)
        .values(content=content)
    )


_CHECKPOINT_MANY = text(
    "update messages m set content = v.content"
    " from unnest(cast(:ids as uuid[]), cast(:users as uuid[]), cast(:contents as text[]))"
    " as v(id, user_id, content), chat_turns t"
    " where m.id = v.id and m.status = 'streaming'"
    " and t.reply_id = v.id and t.user_id = v.user_id and t.process_id = :process"
    " returning m.id"
)


async def checkpoint_many(
    conn: AsyncConnection, process: UUID, replies: list[tuple[UUID, UUID, str]]
) -> set[UUID]:
    """Many replies' text so far in one statement, as `turn_service`: `(reply id, its user,
    text)`. A reply is written only while it is `streaming` and a turn in flight of `process`
    for that user (a reply finished, deleted, or of another process or user is left alone).
    Returns the ids written."""
    ids, users, contents = zip(*replies, strict=True) if replies else ((), (), ())
    result = await conn.execute(
        _CHECKPOINT_MANY,
        {"ids": list(ids), "users": list(users), "contents": list(contents), "process": process},
    )
    return {reply_id for (reply_id,) in result}


async def finish(
    conn: AsyncConnection,
    reply_id: UUID,
    *,
    content: str,
    status: str,
    metadata: dict[str, Any],
    move_last: bool,
    parent_id: UUID | None = None,
) -> MessageRow | None:
    """The reply's final text, status and metadata, and its turn no longer in flight. With
    `move_last` the reply takes a new place at the end of the conversation (after the tool
    messages its turn added), and `parent_id` (the last of them) as its parent, so the branch
    runs through them. None when the reply is gone (its conversation was deleted)."""
    values: dict[str, Any] = {"content": content, "status": status, "metadata": metadata}
    if move_last:
        values["seq"] = text("default")
        if parent_id is not None:
            values["parent_id"] = parent_id
    # One statement, one round trip: the turn's row goes in a CTE of the reply's update.
    ended = (
        delete(chat_turns)
        .where(chat_turns.c.reply_id == reply_id)
        .returning(chat_turns.c.reply_id)
        .cte("ended")
    )
    result = await conn.execute(
        update(messages)
        .where(messages.c.id == reply_id)
        .values(**values)
        .returning(*COLUMNS)
        .add_cte(ended)
    )
    row = result.mappings().one_or_none()
    return row_of(row) if row else None


async def message(conn: AsyncConnection, message_id: UUID) -> MessageRow | None:
    """One message, as the caller may see it."""
    result = await conn.execute(select(*COLUMNS).where(messages.c.id == message_id))
    row = result.mappings().one_or_none()
    return row_of(row) if row else None


async def heartbeat(conn: AsyncConnection, process: UUID) -> None:
    await conn.execute(
        pg_insert(turn_processes)
        .values(id=process)
        .on_conflict_do_update(
            index_elements=[turn_processes.c.id], set_={"heartbeat_at": text("now()")}
        )
    )


async def leave(conn: AsyncConnection, process: UUID) -> None:
    await conn.execute(delete(turn_processes).where(turn_processes.c.id == process))


_INTERRUPTED = {"finish_reason": "interrupted", "incomplete": True, "reason": "interrupted"}


async def sweep(
    conn: AsyncConnection,
    *,
    dead_after: timedelta,
    process: UUID,
    running: set[UUID],
    calls: set[UUID] | None = None,
) -> list[MessageRow]:
    """Ghosts, marked `incomplete` (`interrupted`) and no longer in flight: the turns of
    processes whose heartbeat is older than `dead_after`, and turns this process owns but no
    longer runs: a reply not in `running` (a final save that never committed), an `/ai/v1`
    call (no reply) not in `calls`, by its turn's id (an end that never committed). Returns
    the replies marked."""
    live = select(turn_processes.c.id).where(
        turn_processes.c.heartbeat_at
        >= text("now()") - bindparam("dead_after", dead_after, type_=Interval)
    )
    # Our own are judged only once old enough that no opening can still be in its commit.
    ours_gone = (chat_turns.c.process_id == process) & (
        chat_turns.c.started_at
        < text("now()") - bindparam("own_after", dead_after * 4, type_=Interval)
    )
    no_reply = chat_turns.c.reply_id.is_(None)
    if running:
        ours_gone = ours_gone & (no_reply | chat_turns.c.reply_id.not_in(list(running)))
    if calls:
        ours_gone = ours_gone & (~no_reply | chat_turns.c.id.not_in(list(calls)))
    ghost = chat_turns.c.process_id.not_in(live) | ours_gone
    removed = await conn.execute(delete(chat_turns).where(ghost).returning(chat_turns.c.reply_id))
    replies = [r for (r,) in removed if r is not None]
    marked: list[MessageRow] = []
    if replies:
        result = await conn.execute(
            update(messages)
            .where(messages.c.id.in_(replies), messages.c.status == STREAMING)
            .values(
                status=INCOMPLETE,
                metadata=messages.c.metadata.op("||")(
                    bindparam("interrupted", _INTERRUPTED, type_=JSONB)
                ),
            )
            .returning(*COLUMNS)
        )
        marked = [row_of(r) for r in result.mappings()]
    await conn.execute(
        delete(turn_processes).where(
            turn_processes.c.heartbeat_at
            < text("now()") - bindparam("forget_after", dead_after * 10, type_=Interval)
        )
    )
    return marked

"""Queries on messages, inside the caller's RLS transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Integer,
    RowMapping,
    Select,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import MessageRow
from db.tables import conversations, messages

COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.role,
    messages.c.content,
    messages.c.created_at,
    messages.c.seq,
    messages.c.metadata,
    messages.c.status,
    messages.c.parent_id,
)


# newest() builds rows by position.
assert [c.name for c in COLUMNS] == [f.name for f in fields(MessageRow)]


def row_of(row: RowMapping) -> MessageRow:
    return MessageRow(**row)


async def add(
    conn: AsyncConnection,
    conversation_id: UUID,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
    *,
    parent_id: UUID | None = None,
) -> MessageRow:
    """A message following `parent_id`; without one, appended to the branch shown (after the
    conversation's current message, and its current message from then on)."""
    current = (
        select(conversations.c.current_message_id)
        .where(conversations.c.id == conversation_id)
        .scalar_subquery()
    )
    result = await conn.execute(
        insert(messages)
        .values(
            conversation_id=conversation_id,
            role=role,
            content=content,
            metadata=metadata or {},
            parent_id=current if parent_id is None else parent_id,
        )
        .returning(*COLUMNS)
    )
    row = row_of(result.mappings().one())
    if parent_id is None:
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(current_message_id=row.id)
        )
    return row


def _newest_statement(*, before: bool) -> Select[Any]:
    """The statement behind `newest()`, built once (with or without a cursor): building a
    recursive CTE's column collections took about a tenth of a page's CPU when done per call.
    Parameters: ids (the conversations, an array), last, and before when there is a cursor."""
    cursor = bindparam("before", type_=BigInteger)

    def counted(seq: Any) -> Any:
        return case((seq < cursor, 1), else_=0) if before else literal(1)

    start = (
        select(*COLUMNS, counted(messages.c.seq).label("taken"))
        .join(conversations, conversations.c.current_message_id == messages.c.id)
        .where(conversations.c.id == any_(bindparam("ids", type_=ARRAY(Uuid))))
        .cte("path", recursive=True)
    )
    step = select(*COLUMNS, (start.c.taken + counted(messages.c.seq)).label("taken")).join(
        start,
        and_(messages.c.id == start.c.parent_id, start.c.taken <= bindparam("last", type_=Integer)),
    )
    path = start.union_all(step)
    query = select(*(path.c[c.name] for c in COLUMNS)).order_by(path.c.conversation_id, path.c.seq)
    return query.where(path.c.seq < cursor) if before else query


_NEWEST = _newest_statement(before=False)
_NEWEST_BEFORE = _newest_statement(before=True)


async def newest(
    conn: AsyncConnection, conversation_ids: Sequence[UUID], *, last: int, before: int | None
) -> dict[UUID, list[MessageRow]]:
    """For each conversation, up to last + 1 of the newest messages (before seq `before`) of
    the branch shown, the path that ends at its current message, oldest first; the extra row
    only tells the caller there is an earlier page.

    One statement for any number of conversations (db/loaders.py batches a DataLoader's keys
    into such calls): a recursive walk up the parent ids from each current message, which
    stops once it holds last + 1 messages before the cursor. Along a path `seq` only grows, so
    the cursor stays a seq.
    """
    if before is None:
        result = await conn.execute(_NEWEST, {"ids": list(conversation_ids), "last": last})
    else:
        parameters = {"ids": list(conversation_ids), "last": last, "before": before}
        result = await conn.execute(_NEWEST_BEFORE, parameters)
    found: dict[UUID, list[MessageRow]] = {cid: [] for cid in conversation_ids}
    # Plain rows in COLUMNS order, which is MessageRow's: no mapping per row.
    for row in result:
        found[row[1]].append(MessageRow(*row))
    return {cid: rows[-(last + 1) :] for cid, rows in found.items()}


async def sibling_ids(conn: AsyncConnection, message_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
    """For each message, every version of it: the messages with the same parent (in the same
    conversation) and the same role family (a user message, or an assistant reply and the
    tool messages that may start a turn), oldest first. One statement for any number."""
    me = messages.alias("me")
    sibling = messages.alias("sibling")
    is_user_me = me.c.role == "user"
    is_user_sibling = sibling.c.role == "user"
    query = (
        select(me.c.id.label("of"), sibling.c.id)
        .join(
            sibling,
            and_(
                sibling.c.conversation_id == me.c.conversation_id,
                sibling.c.parent_id.is_not_distinct_from(me.c.parent_id),
                is_user_sibling == is_user_me,
            ),
        )
        .where(me.c.id.in_(message_ids))
        .order_by(me.c.id, sibling.c.created_at, sibling.c.seq)
    )
    found: dict[UUID, list[UUID]] = {mid: [] for mid in message_ids}
    for of, sibling_id in await conn.execute(query):
        found[of].append(sibling_id)
    return found

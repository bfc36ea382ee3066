"""Queries on messages, inside the caller's RLS transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import CTE, RowMapping, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import MessageRow
from db.tables import messages

_COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.role,
    messages.c.content,
    messages.c.created_at,
    messages.c.seq,
    messages.c.metadata,
)


def _row(row: RowMapping) -> MessageRow:
    return MessageRow(**row)


async def add(
    conn: AsyncConnection,
    conversation_id: UUID,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
    *,
    ctes: Sequence[CTE] = (),
) -> MessageRow:
    """The saved message; `ctes` (statements that go with it, e.g. a ledger entry) run in the
    same statement."""
    result = await conn.execute(
        insert(messages)
        .values(
            conversation_id=conversation_id, role=role, content=content, metadata=metadata or {}
        )
        .returning(*_COLUMNS)
        .add_cte(*ctes)
    )
    return _row(result.mappings().one())


async def newest(
    conn: AsyncConnection, conversation_ids: Sequence[UUID], *, last: int, before: int | None
) -> dict[UUID, list[MessageRow]]:
    """For each conversation, up to last + 1 of its newest messages (before seq `before`),
    oldest first; the extra row only tells the caller there is an earlier page.

    One statement for any number of conversations: the batch behind the messages DataLoader.
    """
    ranked = select(
        *_COLUMNS,
        func.row_number()
        .over(partition_by=messages.c.conversation_id, order_by=messages.c.seq.desc())
        .label("rank"),
    ).where(messages.c.conversation_id.in_(conversation_ids))
    if before is not None:
        ranked = ranked.where(messages.c.seq < before)
    inner = ranked.subquery()
    query = (
        select(*(inner.c[c.name] for c in _COLUMNS))
        .where(inner.c.rank <= last + 1)
        .order_by(inner.c.conversation_id, inner.c.seq)
    )
    found: dict[UUID, list[MessageRow]] = {cid: [] for cid in conversation_ids}
    for row in (await conn.execute(query)).mappings():
        found[row["conversation_id"]].append(_row(row))
    return found


async def history(conn: AsyncConnection, conversation_id: UUID, limit: int) -> list[MessageRow]:
    """The newest `limit` messages in chronological order: what a model sees of the past."""
    newest_first = (
        select(*_COLUMNS)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.seq.desc())
        .limit(limit)
        .subquery()
    )
    result = await conn.execute(
        select(*(newest_first.c[c.name] for c in _COLUMNS)).order_by(newest_first.c.seq)
    )
    return [_row(r) for r in result.mappings()]

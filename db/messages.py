"""Queries on messages, inside the caller's RLS transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import MessageRow
from db.tables import messages

COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.role,
    messages.c.content,
    messages.c.created_at,
    messages.c.seq,
    messages.c.metadata,
    messages.c.status,
)


def row_of(row: RowMapping) -> MessageRow:
    return MessageRow(**row)


async def add(
    conn: AsyncConnection,
    conversation_id: UUID,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
) -> MessageRow:
    result = await conn.execute(
        insert(messages)
        .values(
            conversation_id=conversation_id, role=role, content=content, metadata=metadata or {}
        )
        .returning(*COLUMNS)
    )
    return row_of(result.mappings().one())


async def newest(
    conn: AsyncConnection, conversation_ids: Sequence[UUID], *, last: int, before: int | None
) -> dict[UUID, list[MessageRow]]:
    """For each conversation, up to last + 1 of its newest messages (before seq `before`),
    oldest first; the extra row only tells the caller there is an earlier page.

    One statement for any number of conversations (db/loaders.py batches a DataLoader's keys
    into such calls).
    """
    ranked = select(
        *COLUMNS,
        func.row_number()
        .over(partition_by=messages.c.conversation_id, order_by=messages.c.seq.desc())
        .label("rank"),
    ).where(messages.c.conversation_id.in_(conversation_ids))
    if before is not None:
        ranked = ranked.where(messages.c.seq < before)
    inner = ranked.subquery()
    query = (
        select(*(inner.c[c.name] for c in COLUMNS))
        .where(inner.c.rank <= last + 1)
        .order_by(inner.c.conversation_id, inner.c.seq)
    )
    found: dict[UUID, list[MessageRow]] = {cid: [] for cid in conversation_ids}
    for row in (await conn.execute(query)).mappings():
        found[row["conversation_id"]].append(row_of(row))
    return found

"""Queries on conversations. Each takes a connection already inside the caller's RLS transaction,
so a row that is not the caller's is simply not there."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    RowMapping,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import ConversationRow
from db.tables import conversations

_COLUMNS = (
    conversations.c.id,
    conversations.c.user_id,
    conversations.c.title,
    conversations.c.created_at,
    conversations.c.updated_at,
    conversations.c.archived,
)


def _row(row: RowMapping) -> ConversationRow:
    return ConversationRow(**row)


async def create(conn: AsyncConnection, title: str) -> ConversationRow:
    # user_id is left to its column default, the caller's JWT sub.
    result = await conn.execute(insert(conversations).values(title=title).returning(*_COLUMNS))
    return _row(result.mappings().one())


async def get(conn: AsyncConnection, conversation_id: UUID) -> ConversationRow | None:
    result = await conn.execute(select(*_COLUMNS).where(conversations.c.id == conversation_id))
    row = result.mappings().one_or_none()
    return _row(row) if row else None


async def rename(
    conn: AsyncConnection, conversation_id: UUID, title: str
) -> ConversationRow | None:
    result = await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(title=title, updated_at=func.now())
        .returning(*_COLUMNS)
    )
    row = result.mappings().one_or_none()
    return _row(row) if row else None


async def set_archived(
    conn: AsyncConnection, conversation_id: UUID, archived: bool
) -> ConversationRow | None:
    """Archiving leaves updated_at alone: a conversation comes back where it was."""
    result = await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(archived=archived)
        .returning(*_COLUMNS)
    )
    row = result.mappings().one_or_none()
    return _row(row) if row else None


async def delete_one(conn: AsyncConnection, conversation_id: UUID) -> bool:
    result = await conn.execute(
        delete(conversations)
        .where(conversations.c.id == conversation_id)
        .returning(conversations.c.id)
    )
    return result.one_or_none() is not None


async def page(
    conn: AsyncConnection,
    *,
    first: int,
    after: tuple[datetime, UUID] | None,
    archived: bool = False,
) -> list[ConversationRow]:
    """Most recently updated first; keyset on (updated_at, id) so inserts never shift a page.

    Returns up to first + 1 rows: the extra one only tells the caller there is a next page.
    """
    query = (
        select(*_COLUMNS)
        .where(conversations.c.archived == archived)
        .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
    )
    if after is not None:
        query = query.where(tuple_(conversations.c.updated_at, conversations.c.id) < tuple_(*after))
    result = await conn.execute(query.limit(first + 1))
    return [_row(r) for r in result.mappings()]


async def exists_before(
    conn: AsyncConnection, key: tuple[datetime, UUID], *, archived: bool = False
) -> bool:
    """Whether any conversation of the same list sorts before the cursor: hasPreviousPage
    for forward paging."""
    updated_at, id_ = key
    query = select(conversations.c.id).where(
        conversations.c.archived == archived,
        or_(
            conversations.c.updated_at > updated_at,
            and_(conversations.c.updated_at == updated_at, conversations.c.id > id_),
        ),
    )
    result = await conn.execute(query.limit(1))
    return result.first() is not None

"""The ledger of messages users send, counted by the hourly limit under a per-user lock."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import message_ledger

# Kept a day, well past any window the limit looks at, then pruned by the user's next message.
RETENTION = timedelta(days=1)


async def lock_user(conn: AsyncConnection, user_id: UUID) -> None:
    """Serialise this user's count-then-insert until the transaction ends, in every process
    that shares the database."""
    key = func.hashtextextended(literal("message_ledger:") + str(user_id), 0)
    await conn.execute(select(func.pg_advisory_xact_lock(key)))


async def recent(
    conn: AsyncConnection, user_id: UUID, window: timedelta
) -> tuple[datetime, list[datetime]]:
    """The database's now and the user's entries within `window` of it, oldest first."""
    now = (await conn.execute(select(func.now()))).scalar_one()
    rows = await conn.execute(
        select(message_ledger.c.created_at)
        .where(message_ledger.c.user_id == user_id, message_ledger.c.created_at > now - window)
        .order_by(message_ledger.c.created_at)
    )
    return now, list(rows.scalars())


async def add(conn: AsyncConnection, user_id: UUID) -> None:
    await conn.execute(insert(message_ledger).values(user_id=user_id))


async def prune(conn: AsyncConnection, user_id: UUID) -> None:
    await conn.execute(
        delete(message_ledger).where(
            message_ledger.c.user_id == user_id,
            message_ledger.c.created_at < func.now() - RETENTION,
        )
    )

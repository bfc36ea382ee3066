"""The ledger of messages users send, counted by the hourly limit under a per-user lock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import CTE, ColumnElement, DateTime, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import message_ledger

# Kept a day, well past any window the limit looks at, then pruned by the user's next message
# (in the statement that records it: no round trip of its own).
RETENTION = timedelta(days=1)


def user_lock(user_id: UUID) -> ColumnElement[Any]:
    """The lock `lock_user` takes, as an expression: a caller may take it in a statement it
    runs anyway (then `recent` must be a later statement, to see what the lock waited for)."""
    key = func.hashtextextended(literal("message_ledger:") + str(user_id), 0)
    return func.pg_advisory_xact_lock(key)


async def lock_user(conn: AsyncConnection, user_id: UUID) -> None:
    """Serialise this user's count-then-insert until the transaction ends, in every process
    that shares the database."""
    await conn.execute(select(user_lock(user_id)))


async def recent(
    conn: AsyncConnection, user_id: UUID, window: timedelta
) -> tuple[datetime, list[datetime]]:
    """The database's now and the user's entries within `window` of it, oldest first: one
    statement, an aggregate, so there is a row (and a now) even with no entries."""
    now = func.now()
    created = message_ledger.c.created_at
    in_window = select(
        now.label("now"),
        func.coalesce(
            func.array_agg(aggregate_order_by(created, created)),
            literal([], ARRAY(DateTime(timezone=True))),
        ).label("entries"),
    ).where(message_ledger.c.user_id == user_id, created > now - window)
    row = (await conn.execute(in_window)).one()
    return row.now, list(row.entries)


def entry(user_id: UUID) -> tuple[CTE, CTE]:
    """Recording one message, and dropping the user's entries past retention, as CTEs to
    attach to a statement the caller runs anyway (data-modifying CTEs run unreferenced)."""
    pruned = (
        delete(message_ledger)
        .where(
            message_ledger.c.user_id == user_id,
            message_ledger.c.created_at < func.now() - RETENTION,
        )
        .cte("ledger_pruned")
    )
    return pruned, insert(message_ledger).values(user_id=user_id).cte("ledger_entry")


async def add(conn: AsyncConnection, user_id: UUID) -> None:
    """Record one message, and drop the user's entries past retention in the same statement."""
    pruned, added = entry(user_id)
    await conn.execute(select(literal(1)).add_cte(pruned, added))

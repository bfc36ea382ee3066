"""The per-user hourly message limit: count and record under a per-user lock.

The lock is a PostgreSQL advisory lock held until the caller's transaction ends, so the count
and the insert that follows it are one step for every process sharing the database: with N
allowed, N+k simultaneous messages admit exactly N.
"""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from db import message_ledger
from resolvers.errors import RateLimited
from resolvers.metrics import RATE_LIMIT_REFUSALS

WINDOW = timedelta(hours=1)


async def admit(conn: AsyncConnection, user_id: UUID, per_hour: int) -> None:
    """Record one message for the user, or raise RateLimited with the seconds until one more
    would be admitted. Call it inside the transaction that saves the message."""
    await message_ledger.lock_user(conn, user_id)
    await check(conn, user_id, per_hour)
    await message_ledger.add(conn, user_id)


async def check(conn: AsyncConnection, user_id: UUID, per_hour: int) -> None:
    """Raise RateLimited when the user is at the limit. The caller holds the user's lock
    (`message_ledger.user_lock`, taken in an earlier statement of this transaction) and
    records the message (`message_ledger.entry`) after this, before the transaction ends."""
    now, recent = await message_ledger.recent(conn, user_id, WINDOW)
    if len(recent) >= per_hour:
        RATE_LIMIT_REFUSALS.labels(limit="messages").inc()
        # The entry whose expiry brings the count below the limit.
        frees_a_slot = recent[len(recent) - per_hour]
        wait = (frees_a_slot + WINDOW - now).total_seconds()
        raise RateLimited(
            f"At most {per_hour} messages an hour; try again later.",
            retry_after=max(1, math.ceil(wait)),
        )

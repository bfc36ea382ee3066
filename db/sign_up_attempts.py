"""Recent sign-up attempts (auth.sign_up_attempts), counted per hashed client address.

In PostgreSQL so the limit holds across every server process, and exact: each admission
takes a transaction-scoped advisory lock on its key before counting, so concurrent sign-ups
from one address are admitted one after another, each seeing the ones before it.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, extract, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import sign_up_attempts


async def admit(conn: AsyncConnection, key: bytes, limit: int, window: timedelta) -> int:
    """Record an attempt for `key` and return 0, or, with `limit` attempts already within
    the window, record nothing and return the seconds until the oldest leaves it.

    Run in a transaction of its own: the lock is held until it ends.
    """
    await conn.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"sign_up:{key.hex()}", 0)))
    )
    # A statement after the lock: its snapshot sees every attempt committed before it.
    await conn.execute(
        delete(sign_up_attempts).where(sign_up_attempts.c.at < func.clock_timestamp() - window)
    )
    count, seconds = (
        await conn.execute(
            select(
                func.count(),
                extract("epoch", func.min(sign_up_attempts.c.at) + window - func.clock_timestamp()),
            ).where(
                sign_up_attempts.c.key_hash == key,
                sign_up_attempts.c.at > func.clock_timestamp() - window,
            )
        )
    ).one()
    if int(count) >= limit:
        return max(1, math.ceil(float(seconds or 0)))
    await conn.execute(insert(sign_up_attempts).values(key_hash=key))
    return 0

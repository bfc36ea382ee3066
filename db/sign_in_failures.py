"""Recent failed sign-ins (auth.sign_in_failures), counted per hashed key.

In PostgreSQL rather than in memory so the limit holds across every server process. An
attempt is written *before* the password is checked and removed again if it succeeds, so a
burst of concurrent attempts cannot all pass the count before any of them is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, extract, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import sign_in_failures


async def record(conn: AsyncConnection, keys: Sequence[bytes], window: timedelta) -> list[int]:
    """One attempt per key; returns their ids. Also drops attempts older than the window."""
    await conn.execute(
        delete(sign_in_failures).where(sign_in_failures.c.at < func.clock_timestamp() - window)
    )
    ids = []
    for key in keys:
        result = await conn.execute(
            insert(sign_in_failures).values(key_hash=key).returning(sign_in_failures.c.id)
        )
        ids.append(int(result.scalar_one()))
    return ids


async def standing(
    conn: AsyncConnection, key: bytes, up_to: int, window: timedelta
) -> tuple[int, int]:
    """Attempts on `key` within the window, up to and including attempt `up_to` (so earlier
    attempts win a race), and the seconds until the oldest of them leaves the window."""
    row = (
        await conn.execute(
            select(
                func.count(),
                extract("epoch", func.min(sign_in_failures.c.at) + window - func.clock_timestamp()),
            ).where(
                sign_in_failures.c.key_hash == key,
                sign_in_failures.c.at > func.clock_timestamp() - window,
                sign_in_failures.c.id <= up_to,
            )
        )
    ).one()
    count, seconds = int(row[0]), row[1]
    return count, max(1, math.ceil(float(seconds or 0)))


async def forget(conn: AsyncConnection, ids: Sequence[int]) -> None:
    await conn.execute(delete(sign_in_failures).where(sign_in_failures.c.id.in_(list(ids))))

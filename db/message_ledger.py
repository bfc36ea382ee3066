"""The ledger of messages users send, counted by the hourly limit.

The rule itself is the database function `admit_message` (migration 0007): it takes the
user's advisory lock, counts in a statement of its own, then records or refuses, so N+k
simultaneous messages against a limit of N admit exactly N in every process sharing the
database.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import refusals

_ADMIT = text("select admit_message(:per_hour)")


async def admit(conn: AsyncConnection, per_hour: int) -> None:
    """Record one message for the caller; MessageLimitReached when at the limit."""
    with refusals():
        await conn.execute(_ADMIT, {"per_hour": per_hour})

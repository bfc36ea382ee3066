"""The per-user hourly message limit, `[chat] max_messages_per_hour`.

The rule lives in the database (`admit_message`, migration 0007), next to the per-user lock
that makes it exact across processes; here its refusal becomes RATE_LIMITED.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from db import message_ledger
from db.errors import MessageLimitReached
from resolvers.errors import RateLimited
from resolvers.metrics import RATE_LIMIT_REFUSALS


@contextmanager
def enforced(per_hour: int) -> Iterator[None]:
    """Around database work that admits a message: a refusal becomes RateLimited."""
    try:
        yield
    except MessageLimitReached as exc:
        RATE_LIMIT_REFUSALS.labels(limit="messages").inc()
        raise RateLimited(
            f"At most {per_hour} messages an hour; try again later.",
            retry_after=exc.retry_after,
        ) from None


async def admit(conn: AsyncConnection, per_hour: int) -> None:
    """Record one message for the caller, or raise RateLimited with the seconds until one
    more would be admitted. Call it inside the transaction that does the message's work."""
    with enforced(per_hour):
        await message_ledger.admit(conn, per_hour)

"""The per-user hourly message limit, `[chat] max_messages_per_hour`.

The rule lives in the database (`admit_message`, migration 0007), next to the per-user lock
that makes it exact across processes; here its refusal becomes RATE_LIMITED.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from db.errors import MessageLimitReached, TurnsInFlightReached
from resolvers.errors import RateLimited
from resolvers.metrics import RATE_LIMIT_REFUSALS


@contextmanager
def enforced(per_hour: int, in_flight: int | None = None) -> Iterator[None]:
    """Around database work that admits a message (and a turn): a refusal becomes
    RateLimited."""
    try:
        yield
    except MessageLimitReached as exc:
        RATE_LIMIT_REFUSALS.labels(limit="messages").inc()
        raise RateLimited(
            f"At most {per_hour} messages an hour; try again later.",
            retry_after=exc.retry_after,
        ) from None
    except TurnsInFlightReached as exc:
        RATE_LIMIT_REFUSALS.labels(limit="turns_in_flight").inc()
        raise RateLimited(
            f"At most {in_flight} replies can stream at once; wait for one to finish.",
            retry_after=exc.retry_after,
        ) from None

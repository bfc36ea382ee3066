"""Brute force: failed sign-ins are limited three ways, none of which lets a stranger lock
an account's owner out.

- Per pair (client address, email): past `sign_in_max_failures` failures within
  `sign_in_window`, that address is refused for that email. The owner elsewhere is not.
- Per client address, across emails: past `sign_in_max_failures_per_address` failures in the
  window, the address is refused for every email (credential stuffing: one address, many
  emails, a password or two each).
- Per email, across addresses: never refused, only slowed. Past
  `sign_in_email_slowdown_after` failures in the window each further attempt waits one
  second more before its password is checked, up to `sign_in_email_slowdown_max_seconds`.
  Each guess at the email then costs its sender a connection held through the wait; the
  owner waits `sign_in_email_slowdown_max_seconds` at worst.

Each attempt is recorded under all three keys before its password is checked (see
db/sign_in_failures.py) and forgotten again when it succeeds; an attempt past a limit is
refused with RATE_LIMITED, and forgotten, without costing a password hash. The wait holds
no database connection. Keys are stored as SHA-256 digests, so the table does not collect
the emails or addresses people tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from db import sign_in_failures
from db.session import service_transaction
from resolvers.auth.addresses import client_key, digest
from resolvers.context import RequestContext
from resolvers.errors import RateLimited
from resolvers.metrics import RATE_LIMIT_REFUSALS

# Looked up at each call, so a test can watch the waits without waiting them out.
pause = asyncio.sleep


def slowdown(failures: int, after: int, max_seconds: float) -> float:
    """Seconds an attempt waits, given the email's `failures` in the window before it."""
    return float(min(max_seconds, max(0, failures - after + 1)))


class Attempt:
    """One sign-in attempt, counted as a failure unless `succeeded()` is called."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.ok = False

    def succeeded(self) -> None:
        self.ok = True


@asynccontextmanager
async def attempt(ctx: RequestContext, email: str) -> AsyncIterator[Attempt]:
    auth = ctx.services.auth
    window = timedelta(seconds=auth.sign_in_window)
    address = client_key(ctx.client_ip)
    limited = [
        (digest(f"pair:{address} {email}"), auth.sign_in_max_failures),
        (digest(f"ip:{address}"), auth.sign_in_max_failures_per_address),
    ]
    slowed = digest(f"email:{email}")
    engine = ctx.services.engine
    # Its own committed transaction: concurrent attempts must see each other's rows.
    async with service_transaction(engine) as conn:
        ids = await sign_in_failures.record(conn, [key for key, _ in limited] + [slowed], window)
    refused_for, delay = 0, 0.0
    async with service_transaction(engine) as conn:
        for (key, limit), attempt_id in zip(limited, ids[: len(limited)], strict=True):
            count, retry_after = await sign_in_failures.standing(conn, key, attempt_id, window)
            if count > limit:
                refused_for = max(refused_for, retry_after)
        if refused_for:
            # A refused attempt checked no password, so it does not extend the lock-out.
            await sign_in_failures.forget(conn, ids)
        else:
            attempts, _ = await sign_in_failures.standing(conn, slowed, ids[-1], window)
            delay = slowdown(
                attempts - 1,
                auth.sign_in_email_slowdown_after,
                auth.sign_in_email_slowdown_max_seconds,
            )
    if refused_for:
        RATE_LIMIT_REFUSALS.labels(limit="sign_in").inc()
        raise RateLimited(
            f"Too many failed sign-ins. Try again in {refused_for} seconds.",
            retry_after=refused_for,
        )
    current = Attempt(ids)
    try:
        # Recorded before the wait: a caller who leaves while waiting has failed.
        if delay:
            await pause(delay)
        yield current
    finally:
        if current.ok:
            async with service_transaction(engine) as conn:
                await sign_in_failures.forget(conn, ids)

"""Brute force: failed sign-ins are limited per email and per client address.

Each attempt is recorded before its password is checked (see db/sign_in_failures.py) and
forgotten again when it succeeds; an attempt past the limit is refused with RATE_LIMITED
without costing a password hash. Keys are stored as SHA-256 digests, so the table does not
collect the emails people tried.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from db import sign_in_failures
from db.session import service_transaction
from resolvers.context import RequestContext
from resolvers.errors import RateLimited
from resolvers.metrics import RATE_LIMIT_REFUSALS


def _keys(email: str, client_ip: str | None) -> list[bytes]:
    keys = [f"email:{email}"]
    if client_ip:
        keys.append(f"ip:{client_ip}")
    return [hashlib.sha256(k.encode()).digest() for k in keys]


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
    keys = _keys(email, ctx.client_ip)
    engine = ctx.services.engine
    # Its own committed transaction: concurrent attempts must see each other's rows.
    async with service_transaction(engine) as conn:
        ids = await sign_in_failures.record(conn, keys, window)
    refused_for = 0
    async with service_transaction(engine) as conn:
        for key, attempt_id in zip(keys, ids, strict=True):
            count, retry_after = await sign_in_failures.standing(conn, key, attempt_id, window)
            if count > auth.sign_in_max_failures:
                refused_for = max(refused_for, retry_after)
        if refused_for:
            # A refused attempt checked no password, so it does not extend the lock-out.
            await sign_in_failures.forget(conn, ids)
    if refused_for:
        RATE_LIMIT_REFUSALS.labels(limit="sign_in").inc()
        raise RateLimited(
            f"Too many failed sign-ins. Try again in {refused_for} seconds.",
            retry_after=refused_for,
        )
    current = Attempt(ids)
    try:
        yield current
    finally:
        if current.ok:
            async with service_transaction(engine) as conn:
                await sign_in_failures.forget(conn, ids)

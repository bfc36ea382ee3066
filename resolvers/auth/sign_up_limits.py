"""Sign-ups per client address: at most `[auth] sign_up_per_address_per_hour` attempts in
any hour, refused beyond with RATE_LIMITED and `retryAfter`, before any password is hashed.

Every attempt that passes input validation counts, whether or not the account is created:
each costs a hash, and a taken email is a hash spent too.
"""

from __future__ import annotations

from datetime import timedelta

from db import sign_up_attempts
from db.session import service_transaction
from resolvers.auth.addresses import client_key, digest
from resolvers.context import RequestContext
from resolvers.errors import RateLimited
from resolvers.metrics import RATE_LIMIT_REFUSALS

WINDOW = timedelta(hours=1)


async def admit(ctx: RequestContext) -> None:
    key = digest(f"sign_up:{client_key(ctx.client_ip)}")
    limit = ctx.services.auth.sign_up_per_address_per_hour
    async with service_transaction(ctx.services.engine) as conn:
        retry_after = await sign_up_attempts.admit(conn, key, limit, WINDOW)
    if retry_after:
        RATE_LIMIT_REFUSALS.labels(limit="sign_up").inc()
        raise RateLimited(
            f"Too many sign-ups from this address. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )

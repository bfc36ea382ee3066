"""An `/ai/v1` call's place among its caller's turns in flight: admitted under the hourly
limit and the cap, and given back when the call ends (migration 0017).

Each is one statement in a transaction of its own, the caller's identity taken on inside it,
so the row-level security and the limits are those of `rls_transaction` with `admit_message`
and `begin_turn`, at one round trip where the transaction spent five: no BEGIN, no separate
identity statement, the commit in the statement's own reply (PostgreSQL's WAL flush, ~0.1 ms
on the reference machine).

The statement goes straight to asyncpg on the pooled connection: SQLAlchemy's execution
(compiling the cached `text()`, its greenlet, its result) cost ~0.3 ms a statement here, more
than PostgreSQL spends on it. No transaction is begun on the connection, so it goes back to the
pool as it came out (docs/benchmarks.md, the gateway beside LiteLLM).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from db.errors import refusals
from db.session import Identity, driver_of

_ADMIT = "select admit_completion($1, $2, $3, $4, $5)"
# The end's commit does not wait for its WAL flush (~0.1 ms here, a third of the statement):
# lost in a server crash, the turn stays counted until the sweep takes it for a ghost, as it
# does a call whose end failed. Only ever too many turns counted for a while, never too few.
# `set_config(..., true)` holds for the statement's own transaction, its commit included.
_END = (
    "select end_completion($1, $2, $3)"
    " from (select set_config('synchronous_commit', 'off', true)) as relaxed"
)

T = TypeVar("T")


async def _on_driver(engine: AsyncEngine, work: Callable[[Any], Awaitable[T]]) -> T:
    """`work` on a pooled connection's asyncpg connection, outside any transaction."""
    async with engine.connect() as conn:
        driver: Any = driver_of(conn)
        try:
            return await work(driver)
        except asyncpg.PostgresError:
            raise
        except BaseException:
            # Cut short mid-statement (cancelled, or the connection broke): SQLAlchemy did
            # not see it, so the pool is told not to hand this connection out again.
            await conn.invalidate()
            raise


async def admit(
    engine: AsyncEngine, identity: Identity, *, per_hour: int, max_in_flight: int, process: UUID
) -> UUID:
    """The call's turn, once admitted; MessageLimitReached or TurnsInFlightReached when not
    (and then nothing is recorded)."""
    args = (identity.claims, identity.role, per_hour, max_in_flight, process)
    with refusals():
        turn: UUID = await _on_driver(engine, lambda driver: driver.fetchval(_ADMIT, *args))
    return turn


async def end(engine: AsyncEngine, identity: Identity, turn: UUID) -> None:
    """The call is no longer in flight."""
    args = (identity.claims, identity.role, turn)
    await _on_driver(engine, lambda driver: driver.execute(_END, *args))

"""An `/ai/v1` call's place among its caller's turns in flight: admitted under the hourly
limit and the cap, and given back when the call ends (migration 0017).

Each is one statement in a transaction of its own, the caller's identity taken on inside it,
so the row-level security and the limits are those of `rls_transaction` with `admit_message`
and `begin_turn`, at one round trip where the transaction spent five: no BEGIN, no separate
identity statement, the commit in the statement's own reply (PostgreSQL's WAL flush, ~0.1 ms
on the reference machine).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.errors import refusals
from db.session import Identity

_ADMIT = text("select admit_completion(:claims, :role, :per_hour, :max_in_flight, :process)")
_END = text("select end_completion(:claims, :role, :turn)")

# Each statement is a transaction of its own: no BEGIN before it, no COMMIT after it.
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


async def admit(
    engine: AsyncEngine, identity: Identity, *, per_hour: int, max_in_flight: int, process: UUID
) -> UUID:
    """The call's turn, once admitted; MessageLimitReached or TurnsInFlightReached when not
    (and then nothing is recorded)."""
    params = {
        "claims": identity.claims,
        "role": identity.role,
        "per_hour": per_hour,
        "max_in_flight": max_in_flight,
        "process": process,
    }
    async with engine.connect() as conn:
        await conn.execution_options(**_AUTOCOMMIT)
        with refusals():
            turn: UUID = (await conn.execute(_ADMIT, params)).scalar_one()
    return turn


async def end(engine: AsyncEngine, identity: Identity, turn: UUID) -> None:
    """The call is no longer in flight."""
    params = {"claims": identity.claims, "role": identity.role, "turn": turn}
    async with engine.connect() as conn:
        await conn.execution_options(**_AUTOCOMMIT)
        await conn.execute(_END, params)

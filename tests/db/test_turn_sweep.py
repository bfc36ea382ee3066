"""The sweep of a process's own turns: an `/ai/v1` call still running is never taken for a
ghost however long it streams, while one this process no longer runs is laid to rest."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import turns as turn_queries
from db.session import turn_service_transaction

LEASE = timedelta(seconds=15)


async def _call_turn(engine: AsyncEngine, process: uuid.UUID, age: timedelta) -> uuid.UUID:
    """A call's turn (no reply row) of `process`, begun `age` ago."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "insert into chat_turns (user_id, process_id, started_at)"
                " values (:user, :process, now() - cast(:age as interval)) returning id"
            ),
            {"user": uuid.uuid4(), "process": process, "age": age},
        )
        turn: uuid.UUID = result.scalar_one()
    return turn


async def _in_flight(engine: AsyncEngine, turns: list[uuid.UUID]) -> set[uuid.UUID]:
    async with engine.begin() as conn:
        rows = await conn.execute(
            text("select id from chat_turns where id = any(:ids)"), {"ids": turns}
        )
        return {r for (r,) in rows}


async def test_a_long_call_of_this_process_is_kept_and_a_forgotten_one_swept(
    engine: AsyncEngine,
) -> None:
    process = uuid.uuid4()
    async with turn_service_transaction(engine) as conn:
        await turn_queries.heartbeat(conn, process)
    long_call = await _call_turn(engine, process, LEASE * 10)
    forgotten = await _call_turn(engine, process, LEASE * 10)
    young = await _call_turn(engine, process, timedelta(0))
    # A chat reply running here too must not change how calls are judged.
    for running in (set(), {uuid.uuid4()}):
        async with turn_service_transaction(engine) as conn:
            await turn_queries.sweep(
                conn, dead_after=LEASE, process=process, running=running, calls={long_call}
            )
        assert await _in_flight(engine, [long_call, young]) == {long_call, young}
        assert await _in_flight(engine, [forgotten]) == set()
        forgotten = await _call_turn(engine, process, LEASE * 10)

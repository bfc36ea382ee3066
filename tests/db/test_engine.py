"""The pool never hands out a connection the server has closed (a restart, a failover, an
idle timeout, an administrator's pg_terminate_backend): it replaces it at checkout."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine


async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    database_url: str, engine: AsyncEngine
) -> None:
    pool = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with pool.connect() as conn:
            pid = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
        async with engine.begin() as admin:
            await admin.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle pooled connection
        async with pool.connect() as conn:
            again = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
        assert again != pid
    finally:
        await pool.dispose()

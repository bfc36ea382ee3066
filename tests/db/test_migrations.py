"""Migrations are reversible: down to nothing and up again on a fresh database."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.migrations import downgrade, upgrade
from app.settings import Settings
from db.engine import create_engine
from tests.support.database import create_database, drop_database, server_url


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("select tablename from pg_tables where schemaname = 'public'")
            )
            return {r.tablename for r in rows}
    finally:
        await engine.dispose()


def test_migrations_go_down_and_up_again(settings: Settings) -> None:
    server = server_url(settings.server.data_dir)
    url = create_database(server)
    try:
        upgrade(url)
        downgrade(url, "base")
        assert asyncio.run(_tables(url)) <= {"alembic_version"}
        upgrade(url)
        assert {"conversations", "messages"} <= asyncio.run(_tables(url))
    finally:
        drop_database(server, url)

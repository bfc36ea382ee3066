"""Alembic runs the migrations over the app's own asyncpg driver.

The URL comes from `config.attributes["url"]` (set by `reactor-chat migrate`) or, when
alembic is run by hand, from the project's settings.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from db.engine import async_url


def _url() -> str:
    url = context.config.attributes.get("url")
    if url:
        return str(url)
    from app.settings import load_settings  # noqa: PLC0415 - only when run by hand

    configured = load_settings().database.url
    if configured is None:
        raise SystemExit("alembic: set [database] url or REACTOR_DATABASE__URL")
    return configured.get_secret_value()


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    engine = create_async_engine(async_url(_url()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_migrate)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("alembic: offline (--sql) mode is not supported; run against a database")
asyncio.run(_run())

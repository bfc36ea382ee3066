"""Migrations are reversible: down to nothing and up again on a fresh database."""

from __future__ import annotations

import asyncio
import uuid

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


async def _populate_flat(url: str) -> tuple[str, list[str]]:
    """A conversation as migration 0009 left it: messages in seq order, no tree."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            owner = uuid.uuid4()
            conversation = (
                await conn.execute(
                    text(
                        "insert into conversations (user_id, title) values (:u, 'c') returning id"
                    ),
                    {"u": owner},
                )
            ).scalar_one()
            ids = []
            for n, role in enumerate(("user", "assistant", "user", "assistant")):
                ids.append(
                    str(
                        (
                            await conn.execute(
                                text(
                                    "insert into messages (conversation_id, role, content)"
                                    " values (:c, :r, :t) returning id"
                                ),
                                {"c": conversation, "r": role, "t": f"m{n}"},
                            )
                        ).scalar_one()
                    )
                )
            return str(conversation), ids
    finally:
        await engine.dispose()


async def _tree(url: str, conversation: str) -> tuple[list[tuple[str, str | None]], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("select id, parent_id from messages where conversation_id = :c order by seq"),
                {"c": conversation},
            )
            current = await conn.execute(
                text("select current_message_id from conversations where id = :c"),
                {"c": conversation},
            )
            return (
                [(str(i), None if p is None else str(p)) for i, p in rows],
                None if (c := current.scalar_one()) is None else str(c),
            )
    finally:
        await engine.dispose()


def test_the_message_tree_migrates_a_populated_database_down_and_up(settings: Settings) -> None:
    server = server_url(settings.server.data_dir)
    url = create_database(server)
    try:
        upgrade(url, "0009")
        conversation, ids = asyncio.run(_populate_flat(url))
        upgrade(url, "0011")
        chain = [(ids[0], None), *((ids[n], ids[n - 1]) for n in range(1, len(ids)))]
        assert asyncio.run(_tree(url, conversation)) == (chain, ids[-1])
        downgrade(url, "0009")
        upgrade(url, "0011")
        assert asyncio.run(_tree(url, conversation)) == (chain, ids[-1])
    finally:
        drop_database(server, url)

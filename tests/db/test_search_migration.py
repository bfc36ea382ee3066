"""Migration 0010 (search and archive) goes down and up again on a populated database."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.migrations import downgrade, upgrade
from app.settings import Settings
from db.engine import create_engine
from tests.support.database import create_database, drop_database, server_url


async def _populate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "insert into conversations (id, user_id, title, archived) values"
                    " ('00000000-0000-0000-0000-00000000000a', gen_random_uuid(), 'kept', true)"
                )
            )
            await conn.execute(
                text(
                    "insert into messages (conversation_id, role, content) values"
                    " ('00000000-0000-0000-0000-00000000000a', 'user', 'a searchable walrus')"
                )
            )
    finally:
        await engine.dispose()


async def _state(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            indexes = await conn.execute(
                text("select indexname from pg_indexes where tablename = 'messages'")
            )
            search = await conn.execute(
                text("select count(*) from pg_tables where tablename = 'message_search'")
            )
            messages = await conn.execute(text("select content from messages"))
            return {
                "indexes": {r.indexname for r in indexes},
                "search_table": search.scalar_one(),
                "messages": [r.content for r in messages],
            }
    finally:
        await engine.dispose()


async def _found(url: str, word: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select m.content from message_search s join messages m on m.id = s.message_id"
                    " where s.document @@ websearch_to_tsquery('simple', :w)"
                ),
                {"w": word},
            )
            return [r.content for r in rows]
    finally:
        await engine.dispose()


def test_search_and_archive_go_down_and_up_again_with_data(settings: Settings) -> None:
    server = server_url(settings.server.data_dir)
    url = create_database(server)
    try:
        upgrade(url)
        asyncio.run(_populate(url))
        downgrade(url, "0009")
        down = asyncio.run(_state(url))
        assert down["messages"] == ["a searchable walrus"]
        assert down["search_table"] == 0
        assert "messages_conversation_id_idx" in down["indexes"]  # type: ignore[operator]
        upgrade(url)
        up = asyncio.run(_state(url))
        assert up["messages"] == ["a searchable walrus"]
        assert "messages_conversation_idx" in up["indexes"]  # type: ignore[operator]
        # Messages written before the migration are found once it runs.
        assert asyncio.run(_found(url, "walrus")) == ["a searchable walrus"]
    finally:
        drop_database(server, url)

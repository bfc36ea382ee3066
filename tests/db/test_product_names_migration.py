"""Migration 0015: names already taken twice keep their newest product; then a name is unique,
and the migration goes down and up again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.migrations import downgrade, upgrade
from db.engine import create_engine
from tests.support.database import create_database, drop_database, server_url


@pytest.fixture
def before_0015(tmp_path: Path) -> Iterator[str]:
    server = server_url(tmp_path)
    url = create_database(server)
    upgrade(url, "0015-1")
    yield url
    drop_database(server, url)


async def _sql(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await conn.execute(text(statement))
                rows = [tuple(r) for r in result] if result.returns_rows else []
            return rows
    finally:
        await engine.dispose()


def test_duplicates_keep_the_newest_and_names_become_unique(before_0015: str) -> None:
    asyncio.run(
        _sql(
            before_0015,
            "insert into products (name, description, created_at) values"
            " ('Lamp', 'old', now() - interval '2 days'), ('Lamp', 'new', now()),"
            " ('Lamp', 'older', now() - interval '3 days'), ('Mug', 'only', now())",
        )
    )
    upgrade(before_0015, "0015")
    kept = asyncio.run(_sql(before_0015, "select name, description from products order by name"))
    assert kept == [("Lamp", "new"), ("Mug", "only")]
    with pytest.raises(IntegrityError):
        asyncio.run(_sql(before_0015, "insert into products (name) values ('Mug')"))

    downgrade(before_0015, "0015-1")
    asyncio.run(_sql(before_0015, "insert into products (name) values ('Mug')"))
    asyncio.run(_sql(before_0015, "delete from products where description = ''"))
    upgrade(before_0015, "0015")
    assert asyncio.run(_sql(before_0015, "select count(*) from products")) == [(2,)]

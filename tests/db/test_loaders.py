"""The messages batch: rows per key in key order, one statement per distinct page shape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from db import conversations, loaders, messages
from db.session import rls_transaction


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_rows_come_per_key_in_key_order_one_statement_per_page_shape(
    engine: AsyncEngine, statements: list[str]
) -> None:
    alice = {"sub": str(uuid.uuid4()), "role": "authenticated"}
    async with rls_transaction(engine, alice) as conn:
        first = await conversations.create(conn, "first")
        second = await conversations.create(conn, "second")
        for n in range(3):
            await messages.add(conn, first.id, "user", f"first {n}")
            await messages.add(conn, second.id, "user", f"second {n}")
    keys = [(second.id, 5, None), (first.id, 1, None), (first.id, 5, None)]

    statements.clear()
    async with rls_transaction(engine, alice) as conn:
        found = await loaders.newest_messages(conn, keys)

    assert [[m.content for m in rows] for rows in found] == [
        ["second 0", "second 1", "second 2"],
        ["first 1", "first 2"],  # last 1, and one more to tell of an earlier page
        ["first 0", "first 1", "first 2"],
    ]
    assert len([s for s in statements if "FROM messages" in s]) == 2

"""A page of conversations loads its messages in one statement, not one per conversation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.support.graphql import gql
from tests.support.server import ServerThread

QUERY = "{ conversations(first: 10) { edges { node { id messages(last: 5) { edges { node { content } } } } } } }"


@pytest.fixture
def statements(server: ServerThread) -> Iterator[list[str]]:
    engine = server.server.config.app.state.services.engine.sync_engine  # the app's own pool
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def test_messages_of_a_page_are_loaded_in_one_statement(
    client: httpx.AsyncClient, token: str, statements: list[str]
) -> None:
    for i in range(6):
        await gql(client, f'mutation {{ createConversation(title: "c{i}") {{ id }} }}', token=token)
    statements.clear()
    body = await gql(client, QUERY, token=token)
    assert len(body["data"]["conversations"]["edges"]) == 6
    message_queries = [s for s in statements if "FROM messages" in s]
    conversation_queries = [
        s for s in statements if "FROM conversations" in s and "messages" not in s
    ]
    assert len(message_queries) == 1
    assert len(conversation_queries) == 1
    assert uuid.UUID(body["data"]["conversations"]["edges"][0]["node"]["id"])

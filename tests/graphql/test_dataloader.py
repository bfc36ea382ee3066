"""A page of conversations loads its messages in one statement, not one per conversation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from db import messages
from db.session import rls_transaction
from tests.support.graphql import codes, gql
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


PAGE_AND_CONVERSATION = """query($n: Int, $id: UUID!, $before: String) {
  conversations(first: 10) { edges { node { id ...M latest: messages(last: 1) { edges { node { content } } } } } }
  conversation(id: $id) { messages(last: $n, before: $before) { edges { node { content } } } }
}
fragment M on Conversation { messages(last: $n) { edges { node { content } } pageInfo { hasPreviousPage startCursor } } }"""


async def _conversation_with_messages(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str, count: int
) -> str:
    made = await gql(client, "mutation { createConversation { id } }", token=token)
    conversation_id = made["data"]["createConversation"]["id"]
    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        for i in range(count):
            await messages.add(conn, uuid.UUID(conversation_id), "user", f"m{i}")
    return str(conversation_id)


async def test_a_page_reads_its_messages_in_its_own_transaction_by_each_arguments(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    user_id: uuid.UUID,
    token: str,
    statements: list[str],
) -> None:
    """Fragments, aliases and variables: each distinct arguments is one statement for the
    whole page, read with the page; a field elsewhere still goes through the DataLoader."""
    conversation_id = await _conversation_with_messages(client, engine, user_id, token, 4)
    statements.clear()
    body = await gql(client, PAGE_AND_CONVERSATION, {"n": 3, "id": conversation_id}, token=token)
    node = body["data"]["conversations"]["edges"][0]["node"]
    assert [e["node"]["content"] for e in node["messages"]["edges"]] == ["m1", "m2", "m3"]
    assert node["messages"]["pageInfo"]["hasPreviousPage"] is True
    assert [e["node"]["content"] for e in node["latest"]["edges"]] == ["m3"]
    single = body["data"]["conversation"]["messages"]["edges"]
    assert [e["node"]["content"] for e in single] == ["m1", "m2", "m3"]
    assert len([s for s in statements if "FROM messages" in s]) == 3  # last 3, last 1, the loader
    cursor = node["messages"]["pageInfo"]["startCursor"]
    earlier = await gql(
        client,
        PAGE_AND_CONVERSATION,
        {"n": 3, "id": conversation_id, "before": cursor},
        token=token,
    )
    assert [e["node"]["content"] for e in earlier["data"]["conversation"]["messages"]["edges"]] == [
        "m0"
    ]


async def test_bad_message_arguments_in_a_page_fail_that_field_alone(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    await _conversation_with_messages(client, engine, user_id, token, 2)
    query = """query($before: String) { conversations(first: 5) { edges { node { id
      good: messages(last: 2) { edges { node { content } } }
      bad: messages(last: 0) { edges { node { content } } }
      lost: messages(last: 2, before: $before) { edges { node { content } } } } } } }"""
    body = await gql(client, query, {"before": "not-a-cursor"}, token=token)
    # Non-null all the way up: the first error nulls the page; it is one of the two fields'.
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert {e["path"][-1] for e in body["errors"]} <= {"bad", "lost"}
    assert body["data"] is None

"""The data API: create, read, rename, delete, and page through conversations and messages."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from db import messages
from db.session import rls_transaction
from tests.support.graphql import codes, gql, mint_token

CREATE = "mutation($t: String) { createConversation(title: $t) { id title createdAt updatedAt } }"
LIST = """query($first: Int, $after: String) { conversations(first: $first, after: $after) {
  edges { cursor node { id title } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
MESSAGES = """query($id: UUID!, $last: Int, $before: String) { conversation(id: $id) {
  messages(last: $last, before: $before) { edges { cursor node { content role conversationId } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""


async def create(client: httpx.AsyncClient, token: str, title: str | None = None) -> dict[str, str]:
    body = await gql(client, CREATE, {"t": title}, token=token)
    assert "errors" not in body, body
    return body["data"]["createConversation"]  # type: ignore[no-any-return]


async def test_create_defaults_the_title_and_lists_it(
    client: httpx.AsyncClient, token: str
) -> None:
    made = await create(client, token)
    assert made["title"] == "New conversation"
    listed = await gql(client, LIST, {"first": 5}, token=token)
    assert [e["node"]["id"] for e in listed["data"]["conversations"]["edges"]] == [made["id"]]


async def test_rename_and_delete(client: httpx.AsyncClient, token: str) -> None:
    made = await create(client, token, "first")
    renamed = await gql(
        client,
        "mutation($id: UUID!) { renameConversation(id: $id, title: '  two   words ') { title } }".replace(
            "'", '"'
        ),
        {"id": made["id"]},
        token=token,
    )
    assert renamed["data"]["renameConversation"]["title"] == "two words"
    deleted = await gql(
        client,
        "mutation($id: UUID!) { deleteConversation(id: $id) }",
        {"id": made["id"]},
        token=token,
    )
    assert deleted["data"]["deleteConversation"] is True
    gone = await gql(
        client,
        "query($id: UUID!) { conversation(id: $id) { id } }",
        {"id": made["id"]},
        token=token,
    )
    assert gone["data"]["conversation"] is None


async def test_blank_or_huge_titles_are_bad_input(client: httpx.AsyncClient, token: str) -> None:
    assert codes(await gql(client, CREATE, {"t": "   "}, token=token)) == ["BAD_USER_INPUT"]
    assert codes(await gql(client, CREATE, {"t": "x" * 201}, token=token)) == ["BAD_USER_INPUT"]
    listed = await gql(client, LIST, {"first": 5}, token=token)
    assert listed["data"]["conversations"]["edges"] == []


async def test_page_sizes_out_of_range_are_bad_input(client: httpx.AsyncClient, token: str) -> None:
    for first in (0, -1, 101):
        assert codes(await gql(client, LIST, {"first": first}, token=token)) == ["BAD_USER_INPUT"]
    assert codes(await gql(client, LIST, {"first": 5, "after": "not-a-cursor"}, token=token)) == [
        "BAD_USER_INPUT"
    ]


async def test_a_malformed_uuid_is_bad_input(client: httpx.AsyncClient, token: str) -> None:
    body = await gql(
        client, "query($id: UUID!) { conversation(id: $id) { id } }", {"id": "nope"}, token=token
    )
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_pagination_is_stable_under_concurrent_inserts(
    client: httpx.AsyncClient, token: str
) -> None:
    made = [await create(client, token, f"c{i}") for i in range(7)]
    expected = [m["id"] for m in reversed(made)]  # most recently updated first
    first = await gql(client, LIST, {"first": 3}, token=token)
    page1 = first["data"]["conversations"]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert page1["pageInfo"]["hasPreviousPage"] is False
    # New conversations arrive between the pages; they sort before the cursor, not into page 2.
    await asyncio.gather(*(create(client, token, f"new{i}") for i in range(4)))
    seen = [e["node"]["id"] for e in page1["edges"]]
    cursor = page1["pageInfo"]["endCursor"]
    while cursor:
        body = await gql(client, LIST, {"first": 3, "after": cursor}, token=token)
        page = body["data"]["conversations"]
        assert page["pageInfo"]["hasPreviousPage"] is True
        seen += [e["node"]["id"] for e in page["edges"]]
        cursor = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert seen == expected


async def test_messages_are_the_newest_in_chronological_order(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    made = await create(client, token)
    conversation_id = uuid.UUID(made["id"])
    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        for i in range(7):  # one transaction: timestamps tie, order must not
            await messages.add(
                conn, conversation_id, "user" if i % 2 == 0 else "assistant", f"m{i}"
            )
    body = await gql(client, MESSAGES, {"id": made["id"], "last": 3}, token=token)
    page = body["data"]["conversation"]["messages"]
    assert [e["node"]["content"] for e in page["edges"]] == ["m4", "m5", "m6"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False
    earlier = await gql(
        client,
        MESSAGES,
        {"id": made["id"], "last": 3, "before": page["pageInfo"]["startCursor"]},
        token=token,
    )
    older = earlier["data"]["conversation"]["messages"]
    assert [e["node"]["content"] for e in older["edges"]] == ["m1", "m2", "m3"]
    assert older["pageInfo"]["hasNextPage"] is True
    rest = await gql(
        client,
        MESSAGES,
        {"id": made["id"], "last": 3, "before": older["pageInfo"]["startCursor"]},
        token=token,
    )
    oldest = rest["data"]["conversation"]["messages"]
    assert [e["node"]["content"] for e in oldest["edges"]] == ["m0"]
    assert oldest["pageInfo"]["hasPreviousPage"] is False


async def test_a_token_for_a_user_with_no_rows_sees_an_empty_list(
    client: httpx.AsyncClient,
) -> None:
    body = await gql(client, LIST, {"first": 5}, token=mint_token())
    assert body["data"]["conversations"]["edges"] == []

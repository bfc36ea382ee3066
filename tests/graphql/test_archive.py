"""`archiveConversation`: archived conversations move to `conversations(archived: true)` and
back, search still finds them, and someone else's cannot be archived."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import messages
from db.session import rls_transaction, service_transaction
from tests.support.graphql import codes, gql, mint_token

ARCHIVE = """mutation($id: UUID!, $a: Boolean!) {
  archiveConversation(id: $id, archived: $a) { id archived updatedAt } }"""
LIST = """query($a: Boolean) { conversations(archived: $a) { edges { node { id archived } } } }"""
DEFAULT_LIST = "{ conversations { edges { node { id } } } }"


async def _create(client: httpx.AsyncClient, token: str, title: str) -> str:
    body = await gql(
        client,
        "mutation($t: String) { createConversation(title: $t) { id } }",
        {"t": title},
        token=token,
    )
    return str(body["data"]["createConversation"]["id"])


async def _ids(client: httpx.AsyncClient, token: str, archived: bool | None) -> list[str]:
    query, variables = (DEFAULT_LIST, None) if archived is None else (LIST, {"a": archived})
    body = await gql(client, query, variables, token=token)
    return [e["node"]["id"] for e in body["data"]["conversations"]["edges"]]


async def test_archived_conversations_move_between_the_lists(
    client: httpx.AsyncClient, token: str
) -> None:
    word = f"atlas{uuid.uuid4().hex[:6]}"
    kept = await _create(client, token, "kept")
    shelved = await _create(client, token, f"shelved {word}")
    body = await gql(client, ARCHIVE, {"id": shelved, "a": True}, token=token)
    assert body["data"]["archiveConversation"]["archived"] is True
    assert await _ids(client, token, None) == [kept]
    assert await _ids(client, token, False) == [kept]
    assert await _ids(client, token, True) == [shelved]
    search = await gql(
        client,
        "query($q: String!) { search(query: $q) { edges { node { conversation { id archived } } } } }",
        {"q": word},
        token=token,
    )
    assert search["data"]["search"]["edges"] == []  # no message yet: a title hit needs one
    body = await gql(client, ARCHIVE, {"id": shelved, "a": False}, token=token)
    assert body["data"]["archiveConversation"]["archived"] is False
    assert sorted(await _ids(client, token, None)) == sorted([kept, shelved])
    assert await _ids(client, token, True) == []
    # archived defaults to true.
    body = await gql(
        client,
        "mutation($id: UUID!) { archiveConversation(id: $id) { archived } }",
        {"id": kept},
        token=token,
    )
    assert body["data"]["archiveConversation"]["archived"] is True


async def test_search_finds_archived_conversations(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    word = f"orca{uuid.uuid4().hex[:6]}"
    cid = await _create(client, token, "whales")
    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        await messages.add(conn, uuid.UUID(cid), "user", f"the {word} swam by")
    await gql(client, ARCHIVE, {"id": cid, "a": True}, token=token)
    body = await gql(
        client,
        "query($q: String!) { search(query: $q) { edges { node { conversation { id archived } } } } }",
        {"q": word},
        token=token,
    )
    assert [e["node"]["conversation"] for e in body["data"]["search"]["edges"]] == [
        {"id": cid, "archived": True}
    ]


async def test_another_users_conversation_is_not_found_and_not_written(
    client: httpx.AsyncClient, engine: AsyncEngine, token: str
) -> None:
    cid = await _create(client, token, "mine")
    body = await gql(client, ARCHIVE, {"id": cid, "a": True}, token=mint_token(uuid.uuid4()))
    assert codes(body) == ["NOT_FOUND"]
    async with service_transaction(engine) as conn:
        archived = await conn.scalar(
            text("select archived from conversations where id = :id"), {"id": cid}
        )
    assert archived is False
    assert codes(await gql(client, ARCHIVE, {"id": str(uuid.uuid4()), "a": True}, token=token)) == [
        "NOT_FOUND"
    ]

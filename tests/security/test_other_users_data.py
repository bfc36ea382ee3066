"""Through GraphQL, user B can neither see, rename, delete nor page into user A's conversations."""

from __future__ import annotations

import httpx
import pytest

from tests.support.graphql import codes, gql, mint_token


@pytest.fixture
async def alices(client: httpx.AsyncClient) -> tuple[str, str]:
    alice = mint_token()
    body = await gql(client, 'mutation { createConversation(title: "alice") { id } }', token=alice)
    return alice, body["data"]["createConversation"]["id"]


async def test_other_users_conversation_is_null(
    client: httpx.AsyncClient, alices: tuple[str, str]
) -> None:
    _, conversation_id = alices
    body = await gql(
        client,
        "query($id: UUID!) { conversation(id: $id) { id title } }",
        {"id": conversation_id},
        token=mint_token(),
    )
    assert body == {"data": {"conversation": None}}


async def test_other_users_conversation_is_not_in_their_list(
    client: httpx.AsyncClient, alices: tuple[str, str]
) -> None:
    body = await gql(client, "{ conversations { edges { node { id } } } }", token=mint_token())
    assert body["data"]["conversations"]["edges"] == []


async def test_renaming_other_users_conversation_is_not_found(
    client: httpx.AsyncClient, alices: tuple[str, str]
) -> None:
    alice, conversation_id = alices
    body = await gql(
        client,
        'mutation($id: UUID!) { renameConversation(id: $id, title: "bob was here") { id } }',
        {"id": conversation_id},
        token=mint_token(),
    )
    assert codes(body) == ["NOT_FOUND"]
    still = await gql(
        client,
        "query($id: UUID!) { conversation(id: $id) { title } }",
        {"id": conversation_id},
        token=alice,
    )
    assert still["data"]["conversation"]["title"] == "alice"


async def test_deleting_other_users_conversation_is_not_found(
    client: httpx.AsyncClient, alices: tuple[str, str]
) -> None:
    alice, conversation_id = alices
    body = await gql(
        client,
        "mutation($id: UUID!) { deleteConversation(id: $id) }",
        {"id": conversation_id},
        token=mint_token(),
    )
    assert codes(body) == ["NOT_FOUND"]
    still = await gql(
        client,
        "query($id: UUID!) { conversation(id: $id) { id } }",
        {"id": conversation_id},
        token=alice,
    )
    assert still["data"]["conversation"]["id"] == conversation_id


async def test_a_forged_claim_in_the_payload_changes_nothing(
    client: httpx.AsyncClient, alices: tuple[str, str]
) -> None:
    """A token whose sub is Alice's but signed with another key is refused outright."""
    _, conversation_id = alices
    forged = mint_token(secret="another-secret-another-secret-another-secret!")
    body = await gql(
        client,
        "query($id: UUID!) { conversation(id: $id) { id } }",
        {"id": conversation_id},
        token=forged,
    )
    assert codes(body) == ["UNAUTHENTICATED"]

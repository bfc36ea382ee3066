"""The hourly message limit holds exactly under concurrency, across server processes: 100
simultaneous turns against a fresh limit of 60 admit exactly 60, whichever replica serves them
(two app instances here, each with its own connection pool)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from db.session import rls_transaction
from tests.support.graphql import codes, gql, mint_token
from tests.support.server import ServerThread

SEND = """
mutation Send($c: UUID!, $m: String!) {
  sendMessage(conversationId: $c, message: $m) { id }
}
"""


@pytest.fixture(scope="module")
def replica(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings)) as thread:
        yield thread


async def test_100_concurrent_turns_against_a_limit_of_60_admit_exactly_60(
    server: ServerThread, replica: ServerThread, settings: Settings, engine: AsyncEngine
) -> None:
    assert settings.chat.max_messages_per_hour == 60
    user_id = uuid.uuid4()
    token = mint_token(user_id)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=120) as first,
        httpx.AsyncClient(base_url=replica.url, timeout=120) as second,
    ):
        created = await gql(first, "mutation { createConversation { id } }", token=token)
        conversation = created["data"]["createConversation"]["id"]
        bodies = await asyncio.gather(
            *(
                gql(
                    (first, second)[n % 2],
                    SEND,
                    {"c": conversation, "m": f"message {n}"},
                    token=token,
                )
                for n in range(100)
            )
        )
    admitted = [b for b in bodies if not b.get("errors")]
    refused = [b for b in bodies if b.get("errors")]
    assert len(admitted) == 60
    assert len(refused) == 40
    for body in refused:
        assert codes(body) == ["RATE_LIMITED"]
        assert 0 < body["errors"][0]["extensions"]["retryAfter"] <= 3600

    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        saved = (
            await conn.execute(
                text("select count(*) from messages where conversation_id = :c and role = 'user'"),
                {"c": conversation},
            )
        ).scalar_one()
    assert saved == 60


async def test_deleting_conversations_does_not_restore_the_allowance(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = mint_token(uuid.uuid4())
    limit = settings.chat.max_messages_per_hour
    for n in range(limit + 1):
        created = await gql(client, "mutation { createConversation { id } }", token=token)
        conversation = created["data"]["createConversation"]["id"]
        body = await gql(client, SEND, {"c": conversation, "m": "hi"}, token=token)
        await gql(
            client,
            "mutation($id: UUID!) { deleteConversation(id: $id) }",
            {"id": conversation},
            token=token,
        )
        if n < limit:
            assert not body.get("errors"), body
        else:
            assert codes(body) == ["RATE_LIMITED"]


SEND_WITH_ID = """
mutation Send($c: UUID!, $m: String!, $id: UUID) {
  sendMessage(conversationId: $c, message: $m, messageId: $id) { id }
}
"""


async def test_a_retried_send_is_not_counted_again(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = mint_token(uuid.uuid4())
    limit = settings.chat.max_messages_per_hour
    created = await gql(client, "mutation { createConversation { id } }", token=token)
    conversation = created["data"]["createConversation"]["id"]
    ids = [str(uuid.uuid4()) for _ in range(limit)]
    sent = [
        await gql(client, SEND_WITH_ID, {"c": conversation, "m": "hi", "id": id_}, token=token)
        for id_ in ids
    ]
    assert all(not body.get("errors") for body in sent)
    # At the limit, a retry of a message already taken is answered with its reply...
    retried = await gql(
        client, SEND_WITH_ID, {"c": conversation, "m": "hi", "id": ids[0]}, token=token
    )
    assert retried["data"]["sendMessage"] == sent[0]["data"]["sendMessage"]
    # ...while a new message is refused.
    fresh = {"c": conversation, "m": "hi", "id": str(uuid.uuid4())}
    assert codes(await gql(client, SEND_WITH_ID, fresh, token=token)) == ["RATE_LIMITED"]

"""A chat turn in a conversation that is not the caller's is NOT_FOUND and writes nothing:
no message in that conversation, nothing counted against the caller's limit."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import rls_transaction
from tests.chat.ws_client import SubscriptionError, chat_events
from tests.support.graphql import codes, gql, mint_token
from tests.support.server import ServerThread

SEND = 'mutation($c: UUID!) { sendMessage(conversationId: $c, message: "hi") { id } }'


async def _count(engine: AsyncEngine, user_id: uuid.UUID, sql: str, **params: object) -> int:
    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_chat_in_another_users_conversation_is_not_found(
    server: ServerThread, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    created = await gql(client, "mutation { createConversation { id } }", token=mint_token(owner))
    conversation = created["data"]["createConversation"]["id"]

    body = await gql(client, SEND, {"c": conversation}, token=mint_token(intruder))
    assert codes(body) == ["NOT_FOUND"]
    variables = {"conversationId": conversation, "message": "hi"}
    with pytest.raises(SubscriptionError) as caught:
        await chat_events(server.url, mint_token(intruder), variables)
    assert caught.value.codes == ["NOT_FOUND"]

    in_conversation = "select count(*) from messages where conversation_id = :c"
    assert await _count(engine, owner, in_conversation, c=conversation) == 0
    assert await _count(engine, intruder, "select count(*) from message_ledger") == 0

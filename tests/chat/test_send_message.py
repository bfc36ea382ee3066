"""`sendMessage`: the same turn without streaming, returning the saved reply."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import reply_to
from tests.support.graphql import codes, gql

SEND = """
mutation Send($c: UUID!, $m: String!, $model: String) {
  sendMessage(conversationId: $c, message: $m, model: $model) { id role content conversationId }
}
"""


async def test_send_message_returns_the_saved_reply(
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("what is up")
    body = await gql(chat_client, SEND, {"c": str(conversation_id), "m": message}, token=token)
    sent = body["data"]["sendMessage"]
    assert sent["role"] == "ASSISTANT"
    assert sent["content"] == reply_to(message)
    assert sent["conversationId"] == str(conversation_id)
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(r["role"], r["content"]) for r in rows] == [
        ("user", message),
        ("assistant", reply_to(message)),
    ]


async def test_send_message_reports_a_failing_provider(
    chat_client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> None:
    variables = {"c": str(conversation_id), "m": "hi", "model": "fail"}
    body = await gql(chat_client, SEND, variables, token=token)
    assert codes(body) == ["UPSTREAM_ERROR"]
    assert body["data"] is None


async def test_messages_show_tool_rows_with_role_tool(
    chat_client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> None:
    variables = {"c": str(conversation_id), "m": "search nothing-like-this", "model": "tools"}
    body = await gql(chat_client, SEND, variables, token=token)
    assert body["data"]["sendMessage"]["content"].startswith("Found: ")
    query = "query($id: UUID!) { conversation(id: $id) { messages { edges { node { role } } } } }"
    body = await gql(chat_client, query, {"id": str(conversation_id)}, token=token)
    roles = [e["node"]["role"] for e in body["data"]["conversation"]["messages"]["edges"]]
    assert roles == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]

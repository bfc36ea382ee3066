"""A saved reply's metadata in the API: model, usage, finishReason and toolCalls, read from the
rows a conversation's messages come in (no query per message)."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.support.graphql import gql

SEND = """mutation($c: UUID!, $m: String!, $model: String) {
  sendMessage(conversationId: $c, message: $m, model: $model) { id } }"""
MESSAGES = """query($id: UUID!) { conversation(id: $id) { messages(last: 10) { edges { node {
  id role status model finishReason usage { promptTokens completionTokens totalTokens }
  toolCalls { id name arguments } } } } } }"""


async def _messages(
    client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> list[dict[str, object]]:
    body = await gql(client, MESSAGES, {"id": str(conversation_id)}, token=token)
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["conversation"]["messages"]["edges"]]


async def test_a_saved_reply_shows_its_model_usage_and_finish_reason(
    chat_client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> None:
    body = await gql(
        chat_client, SEND, {"c": str(conversation_id), "m": "hello there"}, token=token
    )
    reply_id = body["data"]["sendMessage"]["id"]
    user, reply = await _messages(chat_client, token, conversation_id)
    assert user["role"] == "USER"
    assert user["model"] is None
    assert user["usage"] is None
    assert user["finishReason"] is None
    assert user["toolCalls"] == []
    assert reply["id"] == reply_id
    assert reply["model"] == "fake/text"
    assert reply["finishReason"] == "stop"
    usage = reply["usage"]
    assert isinstance(usage, dict)
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"] > 0
    assert reply["toolCalls"] == []


async def test_a_tool_round_shows_its_calls(
    chat_client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> None:
    word = f"lamp{uuid.uuid4().hex[:6]}"
    await gql(
        chat_client,
        SEND,
        {"c": str(conversation_id), "m": f"search {word}", "model": "tools"},
        token=token,
    )
    rows = await _messages(chat_client, token, conversation_id)
    calling = [r for r in rows if r["toolCalls"]]
    assert len(calling) == 1
    (call,) = calling[0]["toolCalls"]  # type: ignore[misc]
    assert call["id"] == "call_1"
    assert call["name"] == "search_products"
    assert json.loads(call["arguments"]) == {"query": word}
    assert calling[0]["finishReason"] == "tool_calls"
    assert calling[0]["model"] == "fake/tools"

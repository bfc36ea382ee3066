"""A send retried under the `messageId` it was first sent with rejoins that turn: the message
is stored once, on every surface, and an id that means another message is CONFLICT."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import reply_to
from tests.chat.test_fn_chat import _data_lines
from tests.chat.ws_client import GraphQLWebSocket, SubscriptionError
from tests.support.graphql import codes, gql, mint_token
from tests.support.server import ServerThread

CHAT_WITH_ID = """
subscription Chat($c: UUID!, $m: String!, $model: String, $id: UUID, $parent: UUID) {
  chat(conversationId: $c, message: $m, model: $model, messageId: $id, parentId: $parent) {
    __typename
    ... on ChatStarted { replyId userMessage { id content } }
    ... on TextSnapshot { text }
    ... on TextDelta { text }
    ... on ChatCompleted { message { id content status } }
  }
}
"""

SEND_WITH_ID = """
mutation Send($c: UUID!, $m: String!, $id: UUID) {
  sendMessage(conversationId: $c, message: $m, messageId: $id) { id content status }
}
"""


def _text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["__typename"] in ("TextSnapshot", "TextDelta"))


async def _turn(
    url: str, token: str, variables: dict[str, Any], first: int | None = None
) -> list[dict[str, Any]]:
    """The `chat` events of one send, all of them or the `first` few (then it leaves)."""
    events: list[dict[str, Any]] = []
    async with GraphQLWebSocket(url, token) as ws:
        async for data in ws.results(await ws.start(CHAT_WITH_ID, variables)):
            events.append(data["chat"])
            if len(events) == first:
                break
    return events


async def _new_conversation(client: httpx.AsyncClient, token: str) -> str:
    body = await gql(client, "mutation { createConversation { id } }", token=token)
    return str(body["data"]["createConversation"]["id"])


async def test_a_resend_after_the_reply_ended_replays_it_and_stores_nothing(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("once only"), str(uuid.uuid4())
    variables = {"c": str(conversation_id), "m": message, "id": chosen}
    first = await _turn(chat_server.url, token, variables)
    again = await _turn(chat_server.url, token, variables)

    assert first[0]["userMessage"]["id"] == chosen
    assert [e["__typename"] for e in again] == ["ChatStarted", "TextSnapshot", "ChatCompleted"]
    assert again[0]["replyId"] == first[0]["replyId"]
    assert again[0]["userMessage"] == first[0]["userMessage"]
    assert _text_of(again) == _text_of(first) == reply_to(message)
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(str(r["id"]), r["role"]) for r in rows] == [
        (chosen, "user"),
        (first[0]["replyId"], "assistant"),
    ]


async def test_a_resend_mid_reply_rejoins_it_exactly(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("a long story"), str(uuid.uuid4())
    variables = {"c": str(conversation_id), "m": message, "model": "slow", "id": chosen}
    # The client leaves before it learns whether its message was taken, and sends it again.
    started, *_ = await _turn(chat_server.url, token, variables, first=2)
    again = await _turn(chat_server.url, token, variables)

    kinds = [e["__typename"] for e in again]
    assert kinds[:2] == ["ChatStarted", "TextSnapshot"]
    assert kinds[-1] == "ChatCompleted"
    assert "TextDelta" in kinds, "the reply was still streaming when the send was retried"
    assert again[0]["replyId"] == started["replyId"]
    saved = again[-1]["message"]
    assert _text_of(again) == saved["content"] == reply_to(message)
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["role"] for r in rows] == ["user", "assistant"]


async def test_two_sends_of_one_message_at_once_make_one_turn(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("twice at once"), str(uuid.uuid4())
    variables = {"c": str(conversation_id), "m": message, "model": "slow", "id": chosen}
    one, two = await asyncio.gather(
        _turn(chat_server.url, token, variables), _turn(chat_server.url, token, variables)
    )
    assert one[0]["replyId"] == two[0]["replyId"]
    assert _text_of(one) == _text_of(two) == reply_to(message)
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["role"] for r in rows] == ["user", "assistant"]


async def test_the_same_id_with_another_text_or_conversation_is_a_conflict(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("the original"), str(uuid.uuid4())
    await _turn(chat_server.url, token, {"c": str(conversation_id), "m": message, "id": chosen})
    elsewhere = await _new_conversation(chat_client, token)
    reply = (await saved_messages(engine, user_id, conversation_id))[1]["id"]
    attempts = [
        {"c": str(conversation_id), "m": message + " edited", "id": chosen},
        {"c": elsewhere, "m": message, "id": chosen},
        # The reply's id is not a user message's id either.
        {"c": str(conversation_id), "m": message, "id": str(reply)},
    ]
    for variables in attempts:
        with pytest.raises(SubscriptionError) as refused:
            await _turn(chat_server.url, token, variables)
        assert refused.value.codes == ["CONFLICT"]
    assert len(await saved_messages(engine, user_id, conversation_id)) == 2
    assert await saved_messages(engine, user_id, uuid.UUID(elsewhere)) == []


async def test_another_users_message_id_is_a_conflict_and_reveals_nothing(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("mine"), str(uuid.uuid4())
    await _turn(chat_server.url, token, {"c": str(conversation_id), "m": message, "id": chosen})
    intruder = uuid.uuid4()
    intruder_token = mint_token(intruder)
    theirs = await _new_conversation(chat_client, intruder_token)
    # The same text and id, from another user: their send is refused, never joined to ours.
    variables = {"c": theirs, "m": message, "id": chosen}
    with pytest.raises(SubscriptionError) as refused:
        await _turn(chat_server.url, intruder_token, variables)
    assert refused.value.codes == ["CONFLICT"]
    assert message not in json.dumps(refused.value.errors)
    assert await saved_messages(engine, intruder, uuid.UUID(theirs)) == []


async def test_send_message_retried_returns_the_same_reply(
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("not twice"), str(uuid.uuid4())
    variables = {"c": str(conversation_id), "m": message, "id": chosen}
    first = await gql(chat_client, SEND_WITH_ID, variables, token=token)
    again = await gql(chat_client, SEND_WITH_ID, variables, token=token)
    assert again["data"]["sendMessage"] == first["data"]["sendMessage"]
    assert first["data"]["sendMessage"]["content"] == reply_to(message)
    changed = await gql(chat_client, SEND_WITH_ID, {**variables, "m": "other"}, token=token)
    assert codes(changed) == ["CONFLICT"]
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(str(r["id"]), r["role"]) for r in rows] == [
        (chosen, "user"),
        (first["data"]["sendMessage"]["id"], "assistant"),
    ]


async def test_fn_chat_retried_with_its_message_id_streams_the_same_reply(
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message, chosen = unique("over sse"), str(uuid.uuid4())
    body = {"conversation_id": str(conversation_id), "message": message, "message_id": chosen}
    headers = {"Authorization": f"Bearer {token}"}
    first = await chat_client.post("/fn/v1/chat", json=body, headers=headers)
    again = await chat_client.post("/fn/v1/chat", json=body, headers=headers)
    assert again.status_code == 200
    assert again.headers["X-Reply-Id"] == first.headers["X-Reply-Id"]
    for response in (first, again):
        lines = _data_lines(response.text)
        assert lines[-1] == "[DONE]"
        assert "".join(json.loads(line)["text"] for line in lines[:-1]) == reply_to(message)
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(str(r["id"]), r["role"]) for r in rows] == [
        (chosen, "user"),
        (first.headers["X-Reply-Id"], "assistant"),
    ]
    changed = await chat_client.post(
        "/fn/v1/chat", json={**body, "message": "other"}, headers=headers
    )
    assert changed.status_code == 409
    malformed = await chat_client.post(
        "/fn/v1/chat", json={**body, "message_id": "not-a-uuid"}, headers=headers
    )
    assert (malformed.status_code, malformed.json()) == (
        400,
        {"error": "`message_id` must be a UUID."},
    )
    assert len(await saved_messages(engine, user_id, conversation_id)) == 2

"""/fn/v1/chat: the earlier edge function's wire format, unchanged for its frontend."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import FakeProvider, reply_to
from tests.chat.test_chat_interruptions import eventually
from tests.support.graphql import mint_token


def _data_lines(text: str) -> list[str]:
    """The `data:` of each event; an event may also carry an `id:` line."""
    return [
        line.removeprefix("data: ")
        for event in text.split("\n\n")
        for line in event.split("\n")
        if line.startswith("data: ")
    ]


async def test_the_reply_streams_as_text_events_then_done(
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("héllo")
    response = await chat_client.post(
        "/fn/v1/chat",
        json={"conversation_id": str(conversation_id), "message": message},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = _data_lines(response.text)
    assert lines[-1] == "[DONE]"
    texts = [json.loads(line) for line in lines[:-1]]
    assert all(set(t) == {"text"} for t in texts)
    assert "".join(t["text"] for t in texts) == reply_to(message)
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["content"] for r in rows] == [message, reply_to(message)]


async def test_past_the_limit_it_answers_429_as_the_frontend_expects(
    chat_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    user_id = uuid.uuid4()
    token = mint_token(user_id)
    headers = {"Authorization": f"Bearer {token}"}
    created = await chat_client.post(
        "/graphql", json={"query": "mutation { createConversation { id } }"}, headers=headers
    )
    conversation = created.json()["data"]["createConversation"]["id"]
    statuses = []
    for _ in range(61):
        response = await chat_client.post(
            "/fn/v1/chat", json={"conversation_id": conversation, "message": "hi"}, headers=headers
        )
        statuses.append(response.status_code)
    assert statuses == [200] * 60 + [429]
    assert response.json() == {"error": "Rate limit exceeded"}
    assert 0 < int(response.headers["retry-after"]) <= 3600


async def test_refusals_are_json_errors_with_their_status(
    chat_client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> None:
    url = "/fn/v1/chat"
    body = {"conversation_id": str(conversation_id), "message": "hi"}
    auth = {"Authorization": f"Bearer {token}"}
    assert (await chat_client.post(url, json=body)).status_code == 401
    other = {"conversation_id": str(uuid.uuid4()), "message": "hi"}
    assert (await chat_client.post(url, json=other, headers=auth)).status_code == 404
    empty = {"conversation_id": str(conversation_id), "message": ""}
    response = await chat_client.post(url, json=empty, headers=auth)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


async def test_a_client_leaving_mid_stream_only_detaches_and_the_reply_is_saved_whole(
    chat_server_url: str,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("go on")
    async with httpx.AsyncClient(base_url=chat_server_url, timeout=30) as http:
        async with http.stream(
            "POST",
            "/fn/v1/chat",
            json={"conversation_id": str(conversation_id), "message": message, "model": "slow"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            reply_id = response.headers["x-reply-id"]
            seen = ""
            async for chunk in response.aiter_text():
                seen += chunk
                if seen.count("data: ") == 2:
                    break

    async def saved() -> list[dict[str, object]]:
        found = await saved_messages(engine, user_id, conversation_id)
        return found if len(found) == 2 and found[1]["status"] == "complete" else []

    rows = await eventually(saved)
    assert rows[1]["content"] == reply_to(message)
    assert fake_provider.finished(message)
    assert str(rows[1]["id"]) == reply_id
    await asyncio.sleep(0)

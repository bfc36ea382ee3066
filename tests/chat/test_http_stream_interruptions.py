"""A client leaving a chat turn streamed over HTTP (graphql-sse, multipart) only detaches, as
on a WebSocket: the reply is written to its end and saved whole."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import FakeProvider, reply_to
from tests.chat.test_chat_interruptions import eventually
from tests.chat.ws_client import CHAT
from tests.support.server import ServerThread

ACCEPT = {
    "sse": "text/event-stream",
    "multipart": 'multipart/mixed;subscriptionSpec="1.0",application/json',
}


@pytest.mark.parametrize("transport", sorted(ACCEPT))
async def test_leaving_an_http_stream_mid_turn_only_detaches(
    chat_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    transport: str,
) -> None:
    message = unique("tell me a long story over http")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "slow"}
    async with httpx.AsyncClient(base_url=chat_server.url, timeout=60) as http:
        async with http.stream(
            "POST",
            "/graphql",
            json={"query": CHAT, "variables": variables},
            headers={"accept": ACCEPT[transport], "authorization": f"Bearer {token}"},
        ) as response:
            assert response.status_code == 200
            body = ""
            async for chunk in response.aiter_text():
                body += chunk
                if body.count('"TextDelta"') >= 2:
                    break
    # The response is closed here, mid-turn.
    assert not fake_provider.finished(message)

    async def saved() -> list[dict[str, Any]]:
        rows = await saved_messages(engine, user_id, conversation_id)
        return rows if len(rows) == 2 and rows[1]["status"] == "complete" else []

    rows = await eventually(saved)
    assert [(r["role"], r["content"]) for r in rows] == [
        ("user", message),
        ("assistant", reply_to(message)),
    ]
    assert fake_provider.finished(message)

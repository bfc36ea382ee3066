"""A whole chat turn over graphql-transport-ws: events, rows saved, what the provider got."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import SYSTEM_PROMPT, saved_messages, unique
from tests.chat.fake_provider import USAGE, FakeProvider, reply_to
from tests.chat.ws_client import chat_events
from tests.support.server import ServerThread


async def test_a_turn_streams_the_reply_and_saves_both_messages(
    chat_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("Bonjour, ça va? 🌍")
    events = await chat_events(
        chat_server.url, token, {"conversationId": str(conversation_id), "message": message}
    )
    kinds = [e["__typename"] for e in events]
    assert kinds[0] == "ChatStarted"
    assert kinds[-1] == "ChatCompleted"
    assert set(kinds[1:-1]) == {"TextDelta"}
    started, completed = events[0], events[-1]
    assert started["model"] == "fake/text"
    assert started["userMessage"]["content"] == message
    assert started["userMessage"]["role"] == "USER"
    reply = "".join(e["text"] for e in events[1:-1])
    assert reply == reply_to(message)
    assert completed["message"]["content"] == reply
    assert completed["message"]["role"] == "ASSISTANT"
    assert completed["usage"] == {
        "promptTokens": USAGE["prompt_tokens"],
        "completionTokens": USAGE["completion_tokens"],
        "totalTokens": USAGE["total_tokens"],
    }

    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(r["role"], r["content"]) for r in rows] == [("user", message), ("assistant", reply)]
    metadata = rows[1]["metadata"]
    assert metadata["target"] == "fake/text"
    assert metadata["finish_reason"] == "stop"
    assert metadata["usage"] == USAGE
    assert metadata["latency_ms"] >= 0
    assert "incomplete" not in metadata

    (body,) = fake_provider.bodies_mentioning(message)
    assert body["model"] == "text"
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": message},
    ]
    assert [t["function"]["name"] for t in body["tools"]] == ["search_products"]

"""Turns refused before anything is written: who, what and where."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages
from tests.chat.ws_client import (
    CHAT,
    LEGACY_WS,
    TRANSPORT_WS,
    GraphQLWebSocket,
    SubscriptionError,
    chat_events,
)
from tests.support.server import ServerThread


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_turn_without_a_token_is_unauthenticated(
    chat_server: ServerThread, conversation_id: uuid.UUID, protocol: str
) -> None:
    variables = {"conversationId": str(conversation_id), "message": "hi"}
    with pytest.raises(SubscriptionError) as caught:
        await chat_events(chat_server.url, None, variables, protocol)
    assert caught.value.codes == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("message", "model"),
    [
        ("", None),
        ("   \n\t", None),
        ("x" * 32_001, None),
        ("nul \x00 inside", None),
        ("hello", "no-such-alias"),
        ("hello", "nowhere/model"),
        # A configured provider, but a model no alias lists.
        ("hello", "fake/unlisted"),
    ],
    ids=[
        "empty",
        "blank",
        "too-long",
        "nul",
        "unknown-alias",
        "unknown-provider",
        "unlisted-target",
    ],
)
async def test_bad_input_is_refused_and_nothing_is_saved(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message: str,
    model: str | None,
) -> None:
    variables = {"conversationId": str(conversation_id), "message": message, "model": model}
    with pytest.raises(SubscriptionError) as caught:
        await chat_events(chat_server.url, token, variables)
    assert caught.value.codes == ["BAD_USER_INPUT"]
    assert await saved_messages(engine, user_id, conversation_id) == []


async def test_a_message_of_exactly_the_maximum_length_is_accepted(
    chat_server: ServerThread, token: str, conversation_id: uuid.UUID
) -> None:
    # `hold` answers with the whole message in one chunk: accepted, and it reached the model
    # whole. (Echoed 3 characters a chunk as fast as the fake can send them, the reply would
    # outrun this in-process client by more than the buffer a follower may fall behind.)
    message = "y" * 32_000
    variables = {"conversationId": str(conversation_id), "message": message, "model": "hold"}
    events: list[dict[str, Any]] = []
    async with GraphQLWebSocket(chat_server.url, token) as ws:
        async for data in ws.results(await ws.start(CHAT, variables)):
            events.append(data["chat"])
            if data["chat"]["__typename"] == "TextDelta":
                break
    assert events[0]["__typename"] == "ChatStarted"
    assert events[0]["userMessage"]["content"] == message
    assert events[-1] == {"__typename": "TextDelta", "text": message}


async def test_an_unknown_conversation_is_not_found(chat_server: ServerThread, token: str) -> None:
    variables = {"conversationId": str(uuid.uuid4()), "message": "hello"}
    with pytest.raises(SubscriptionError) as caught:
        await chat_events(chat_server.url, token, variables)
    assert caught.value.codes == ["NOT_FOUND"]

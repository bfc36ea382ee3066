"""Turns refused before anything is written: who, what and where."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages
from tests.chat.ws_client import LEGACY_WS, TRANSPORT_WS, SubscriptionError, chat_events
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
    variables = {"conversationId": str(conversation_id), "message": "y" * 32_000}
    events = await chat_events(chat_server.url, token, variables)
    assert events[-1]["__typename"] == "ChatCompleted"


async def test_an_unknown_conversation_is_not_found(chat_server: ServerThread, token: str) -> None:
    variables = {"conversationId": str(uuid.uuid4()), "message": "hello"}
    with pytest.raises(SubscriptionError) as caught:
        await chat_events(chat_server.url, token, variables)
    assert caught.value.codes == ["NOT_FOUND"]

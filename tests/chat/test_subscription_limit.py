"""One WebSocket holds at most `[server] max_subscriptions_per_connection` operations: past
that a subscribe is refused with a code, the connection and the running turns carry on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.settings import Settings
from tests.chat.ws_client import CHAT, LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket
from tests.support.server import ServerThread


async def _until_started(ws: GraphQLWebSocket, op_ids: set[str]) -> dict[str, Any]:
    """Reads until each of `op_ids` has said ChatStarted; returns an error message if one comes."""
    waiting = set(op_ids)
    while waiting:
        message = await ws.receive()
        if message["type"] == "error":
            return message
        if message["type"] in ("next", "data"):
            if message["payload"]["data"]["chat"]["__typename"] == "ChatStarted":
                waiting.discard(message["id"])
    return {}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_subscription_past_the_per_connection_limit_is_refused(
    chat_server: ServerThread,
    chat_settings: Settings,
    token: str,
    conversation_id: uuid.UUID,
    protocol: str,
) -> None:
    limit = chat_settings.server.max_subscriptions_per_connection
    variables = {"conversationId": str(conversation_id), "message": "hold on", "model": "stall"}
    async with GraphQLWebSocket(chat_server.url, token, protocol) as ws:
        held = [await ws.start(CHAT, variables) for _ in range(limit)]
        assert await _until_started(ws, set(held)) == {}
        extra = await ws.start(CHAT, variables)
        refusal = await _until_started(ws, {extra})
        assert refusal["id"] == extra
        payload = refusal["payload"]
        error = payload[0] if isinstance(payload, list) else payload
        assert error["message"] == "Subscription limit reached"
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        # The refusal costs nothing else: stopping one frees a place for another.
        await ws.stop(held[0])
        another = await ws.start(CHAT, variables)
        assert await _until_started(ws, {another}) == {}
        for op_id in [*held[1:], another]:
            await ws.stop(op_id)

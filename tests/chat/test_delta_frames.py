"""A chat turn's text deltas, written as whole frames by the app's graphql-transport-ws
handler, are the bytes the ordinary path sends through the app's own schema and extensions."""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.asyncio.client import connect

from app.endpoints import graphql_ws
from app.endpoints.graphql_ws import TransportWSHandler
from tests.chat.ws_client import CHAT
from tests.support.server import ServerThread

MESSAGE = 'Deltas as frames: "quoted", \\ slashed, ✓ and 🌍'


async def _turn_frames(url: str, token: str, conversation_id: uuid.UUID) -> list[str]:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        variables = {"conversationId": str(conversation_id), "message": MESSAGE}
        subscribe = {
            "id": "turn",
            "type": "subscribe",
            "payload": {"query": CHAT, "variables": variables},
        }
        await ws.send(json.dumps(subscribe))
        frames = []
        while True:
            frame = await ws.recv()
            assert isinstance(frame, str)
            frames.append(frame)
            if json.loads(frame)["type"] in ("complete", "error"):
                return frames


def _deltas(frames: list[str]) -> list[str]:
    return [f for f in frames if '"__typename":"TextDelta"' in f]


def _kinds(frames: list[str]) -> list[str]:
    parsed = [json.loads(f) for f in frames]
    return [
        p["payload"]["data"]["chat"]["__typename"] if p["type"] == "next" else p["type"]
        for p in parsed
    ]


async def test_delta_frames_equal_the_ordinary_path(
    chat_server: ServerThread,
    token: str,
    conversation_id: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []
    send = graphql_ws._DeltaFrames.send

    async def counted(self: graphql_ws._DeltaFrames, text: str) -> bool:
        sent.append(text)
        return await send(self, text)

    monkeypatch.setattr(graphql_ws._DeltaFrames, "send", counted)
    direct = await _turn_frames(chat_server.url, token, conversation_id)
    assert len(sent) == len(_deltas(direct))  # every delta went the direct way
    monkeypatch.setattr(TransportWSHandler, "direct_deltas", False)
    ordinary = await _turn_frames(chat_server.url, token, conversation_id)
    assert _kinds(direct) == _kinds(ordinary)
    assert _kinds(direct)[0] == "ChatStarted"
    assert _kinds(direct)[-2:] == ["ChatCompleted", "complete"]
    assert len(_deltas(direct)) > 3
    assert _deltas(direct) == _deltas(ordinary)

"""Both WebSocket subprotocols keep the same rules: a socket that sends no connection_init in
time is closed 4408, and a message of the wrong shape is closed 4400 rather than failing in
the handler and dropping the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.asgi import create_app
from app.settings import Settings
from tests.support.graphql import mint_token
from tests.support.server import ServerThread

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
INIT_TIMEOUT = 0.5
# A guard against a socket that is never closed, not a measure: the expected close comes
# after INIT_TIMEOUT at most, or at once.
GUARD = 30


@pytest.fixture(scope="module")
def impatient(settings: Settings) -> Iterator[ServerThread]:
    server = settings.server.model_copy(update={"connection_init_timeout": INIT_TIMEOUT})
    with ServerThread(create_app(settings.model_copy(update={"server": server}))) as thread:
        yield thread


def _url(server: ServerThread) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def _close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; the code it closed with."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), GUARD)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def _acknowledged(ws: ClientConnection) -> None:
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {mint_token()}"}}
    await ws.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(ws.recv(), GUARD))["type"] == "connection_ack"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_without_connection_init_is_closed(
    impatient: ServerThread, protocol: str
) -> None:
    async with connect(_url(impatient), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        assert await _close_code(ws) == 4408


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_initialised_socket_outlives_the_timeout(
    impatient: ServerThread, protocol: str
) -> None:
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    query = "subscription { __typename }" if protocol == LEGACY_WS else "{ __typename }"
    async with connect(_url(impatient), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await _acknowledged(ws)
        await asyncio.sleep(INIT_TIMEOUT * 3)
        await ws.send(json.dumps({"type": start, "id": "1", "payload": {"query": query}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
        assert reply["type"] in ("next", "data", "error")
        assert reply["id"] == "1"


def _start(protocol: str) -> str:
    return "subscribe" if protocol == TRANSPORT_WS else "start"


MALFORMED: dict[str, object] = {
    "not JSON": "not json",
    "JSON nested too deep": "[" * 5000,
    "not an object": "5",
    "no type": {"id": "1"},
    "an unknown type": {"type": "nope"},
    "a start without payload": {"type": "START", "id": "1"},
    "a start with a payload that is not an object": {"type": "START", "id": "1", "payload": 5},
    "a start without a query": {"type": "START", "id": "1", "payload": {}},
    "a start whose id is not a string": {
        "type": "START",
        "id": 1,
        "payload": {"query": "subscription { __typename }"},
    },
    "a binary message": b"\x00\x01",
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", MALFORMED)
async def test_a_malformed_message_is_closed_with_4400(
    server: ServerThread, protocol: str, name: str
) -> None:
    message = MALFORMED[name]
    if isinstance(message, dict):
        if message.get("type") == "START":
            message = {**message, "type": _start(protocol)}
        message = json.dumps(message)
    async with connect(_url(server), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await _acknowledged(ws)
        await ws.send(message)  # type: ignore[arg-type]
        assert await _close_code(ws) == 4400
    # The server carries on.
    async with connect(_url(server), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await _acknowledged(ws)

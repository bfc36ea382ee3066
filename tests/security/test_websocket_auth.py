"""WebSocket sessions: the token comes in connection_init, a bad one is refused at connection,
and every operation checks again that it has not expired since. Both subprotocols."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.auth.flows import sign_up
from tests.support.graphql import gql, mint_token
from tests.support.server import ServerThread

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
CREATE = 'mutation { createConversation(title: "ws") { id } }'


def _url(server: ServerThread) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    return message


async def _init(ws: ClientConnection, payload: dict[str, Any] | None) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
    return await _recv(ws)


def _query(protocol: str, conversation_id: str, *, me: bool = False) -> str:
    """graphql-transport-ws runs any operation; legacy graphql-ws only subscriptions."""
    if protocol == TRANSPORT_WS:
        return f'{{ conversation(id: "{conversation_id}") {{ id }} {"me { id }" if me else ""} }}'
    return (
        f'subscription {{ chat(conversationId: "{conversation_id}", message: "hi") '
        "{ __typename ... on ChatStarted { userMessage { conversationId } } } }"
    )


async def _operation(ws: ClientConnection, protocol: str, query: str) -> dict[str, Any]:
    """Start one operation; the first result (data or errors) it sends."""
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    await ws.send(json.dumps({"type": start, "id": "1", "payload": {"query": query}}))
    while True:
        message = await _recv(ws)
        if message["type"] in ("next", "data"):
            payload: dict[str, Any] = message["payload"]
            break
        if message["type"] == "error":
            errors = message["payload"]
            payload = {"errors": errors if isinstance(errors, list) else [errors]}
            break
    stop = "complete" if protocol == TRANSPORT_WS else "stop"
    await ws.send(json.dumps({"type": stop, "id": "1"}))
    return payload


def _code(result: dict[str, Any]) -> str | None:
    errors = result.get("errors") or [{}]
    code: str | None = errors[0].get("extensions", {}).get("code")
    return code


async def test_a_bad_token_is_refused_with_4403_on_graphql_transport_ws(
    server: ServerThread,
) -> None:
    async with connect(_url(server), subprotocols=[TRANSPORT_WS]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer a.b.c"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


@pytest.mark.parametrize("key", ["Authorization", "authorization"])
async def test_an_expired_token_is_refused_with_connection_error_on_graphql_ws(
    server: ServerThread, key: str
) -> None:
    expired = mint_token(ttl=-10)
    async with connect(_url(server), subprotocols=[LEGACY_WS]) as ws:  # type: ignore[list-item]
        answer = await _init(ws, {key: f"Bearer {expired}"})
        assert answer["type"] == "connection_error"
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), timeout=10)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("key", ["Authorization", "authorization"])
async def test_a_good_token_in_connection_init_identifies_the_user(
    server: ServerThread, client: httpx.AsyncClient, protocol: str, key: str
) -> None:
    session = await sign_up(client)
    created = await gql(client, CREATE, token=session["accessToken"])
    conversation_id = created["data"]["createConversation"]["id"]
    async with connect(_url(server), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        ack = await _init(ws, {key: f"Bearer {session['accessToken']}"})
        assert ack["type"] == "connection_ack"
        result = await _operation(ws, protocol, _query(protocol, conversation_id, me=True))
    assert result.get("errors") is None, result
    if protocol == TRANSPORT_WS:
        assert result["data"]["me"]["id"] == session["user"]["id"]
        assert result["data"]["conversation"]["id"] == conversation_id
    else:
        started = result["data"]["chat"]
        assert started["userMessage"]["conversationId"] == conversation_id


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_without_a_token_operations_are_unauthenticated(
    server: ServerThread, protocol: str
) -> None:
    async with connect(_url(server), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        assert (await _init(ws, None))["type"] == "connection_ack"
        result = await _operation(ws, protocol, _query(protocol, str(uuid.uuid4())))
    assert _code(result) == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_each_operation_checks_again_that_the_token_has_not_expired(
    server: ServerThread, protocol: str
) -> None:
    user = uuid.uuid4()
    token = mint_token(user, ttl=2)
    expiry = jwt.decode(token, options={"verify_signature": False})["exp"]
    # An unknown conversation: NOT_FOUND while the token holds, UNAUTHENTICATED once it does not.
    query = _query(protocol, str(uuid.uuid4()))
    async with connect(_url(server), subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        ack = await _init(ws, {"Authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack"
        first = await _operation(ws, protocol, query)
        assert _code(first) in (None, "NOT_FOUND")
        # Outlive the token on the open connection (no clock to move: the server's is real).
        await asyncio.sleep(max(0.0, expiry + 0.2 - time.time()))
        second = await _operation(ws, protocol, query)
    assert _code(second) == "UNAUTHENTICATED"


async def test_a_cross_origin_websocket_is_refused(server: ServerThread) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            _url(server),
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            additional_headers={"Origin": "https://evil.example"},
        ):
            pass
    assert refused.value.response.status_code == 403

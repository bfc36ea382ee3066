"""A WebSocket message over `[server] max_body_bytes` closes that connection with 1009
(message too big) before it is buffered; the server and other connections carry on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.ops.serving import serve
from tests.support.graphql import mint_token


async def test_an_oversized_websocket_message_closes_only_its_connection(
    tmp_path: Path, database_url: str
) -> None:
    async with serve(tmp_path, database_url, SERVER__MAX_BODY_BYTES="65536") as served:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {mint_token()}"}}
        async with connect(served.ws_url, subprotocols=["graphql-transport-ws"]) as bystander:  # type: ignore[list-item]
            await bystander.send(json.dumps(init))
            assert json.loads(await bystander.recv())["type"] == "connection_ack"
            async with connect(served.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps(init))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                await ws.send(
                    json.dumps(
                        {"id": "1", "type": "subscribe", "payload": {"query": "x" * 100_000}}
                    )
                )
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
            await bystander.send(json.dumps({"type": "ping"}))
            assert json.loads(await bystander.recv())["type"] == "pong"

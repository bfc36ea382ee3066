"""SIGTERM while a chat turn streams over a WebSocket: the server stops accepting, lets the
turn finish within `shutdown_grace_seconds`, cancels it past that with its partial reply saved
marked incomplete, and exits. No message is lost either way."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.ops.serving import Served, serve
from tests.support.graphql import gql, mint_token

CHAT = """
subscription Turn($c: UUID!, $m: String!) {
  chat(conversationId: $c, message: $m) {
    __typename
    ... on TextDelta { text }
    ... on ChatCompleted { message { id content } }
  }
}
"""


async def _conversation(served: Served, token: str) -> str:
    async with httpx.AsyncClient(base_url=served.url) as http:
        body = await gql(http, "mutation { createConversation { id } }", token=token)
    conversation_id: str = body["data"]["createConversation"]["id"]
    return conversation_id


async def _turn_until_terminated(
    served: Served, token: str, conversation_id: str, message: str
) -> tuple[list[dict[str, Any]], int]:
    """Start a turn, SIGTERM the server at its first text, and read until the socket closes.
    Returns the events seen and the server's exit code."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(served.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": CHAT, "variables": {"c": conversation_id, "m": message}},
                }
            )
        )
        exit_code: asyncio.Task[int] | None = None
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "next":
                    events.append(frame["payload"]["data"]["chat"])
                    if exit_code is None and events[-1]["__typename"] == "TextDelta":
                        exit_code = asyncio.create_task(served.terminate())
                elif frame["type"] in ("complete", "error"):
                    break
        except websockets.ConnectionClosed:
            pass
    assert exit_code is not None, f"no text streamed: {events}"
    return events, await exit_code


def _exited_cleanly(served: Served, code: int) -> None:
    # A graceful shutdown ends the process normally (app/cli.py: atexit must run).
    assert code == 0, code
    assert any("Application shutdown complete" in line for line in served.lines), served.lines


async def _replies(engine: AsyncEngine, conversation_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "select role, content, metadata from messages where conversation_id = :c order by created_at, seq"
            ),
            {"c": uuid.UUID(conversation_id)},
        )
        return [dict(r._mapping) for r in rows]


async def test_a_turn_that_fits_the_grace_period_finishes_before_exit(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    token = mint_token()
    message = " ".join(f"w{i}" for i in range(12))
    async with serve(
        tmp_path, database_url, ai__local_delay_ms="100", server__shutdown_grace_seconds="30"
    ) as served:
        conversation_id = await _conversation(served, token)
        events, code = await _turn_until_terminated(served, token, conversation_id, message)
    _exited_cleanly(served, code)
    assert events[-1]["__typename"] == "ChatCompleted"
    assert events[-1]["message"]["content"] == f"Echo: {message}"
    rows = await _replies(engine, conversation_id)
    assert [r["role"] for r in rows] == ["user", "assistant"]
    assert rows[1]["content"] == f"Echo: {message}"
    assert not rows[1]["metadata"].get("incomplete")


async def test_a_turn_past_the_grace_period_is_cancelled_with_its_partial_reply_saved(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    token = mint_token()
    message = " ".join(f"w{i}" for i in range(400))
    async with serve(
        tmp_path, database_url, ai__local_delay_ms="100", server__shutdown_grace_seconds="1"
    ) as served:
        conversation_id = await _conversation(served, token)
        events, code = await _turn_until_terminated(served, token, conversation_id, message)
    _exited_cleanly(served, code)
    assert all(e["__typename"] != "ChatCompleted" for e in events)
    rows = await _replies(engine, conversation_id)
    assert [r["role"] for r in rows] == ["user", "assistant"]
    assert rows[0]["content"] == message
    partial = rows[1]
    assert partial["metadata"].get("incomplete") is True
    assert partial["content"]
    assert f"Echo: {message}".startswith(partial["content"])
    assert len(partial["content"]) < len(f"Echo: {message}")


async def test_the_server_stops_accepting_once_terminated(
    tmp_path: Path, database_url: str
) -> None:
    async with serve(tmp_path, database_url) as served:
        _exited_cleanly(served, await served.terminate())
        async with httpx.AsyncClient(base_url=served.url) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get("/healthz")

"""The chat turn over HTTP, driven by the npm clients that speak it (tests/clients, installed
with `npm ci`): @apollo/client's HttpLink (multipart subscriptions) and graphql-sse's
createClient (distinct connections mode). No WebSocket: the same turn, the same token, the
same refusal of another user's conversation as over graphql-transport-ws
(tests/chat/test_node_clients.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import reply_to
from tests.support.graphql import mint_token
from tests.support.server import ServerThread

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
NODE = shutil.which("node")
NPM = shutil.which("npm")
SCRIPTS = ["apollo_http_client.mjs", "graphql_sse_client.mjs"]

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


async def _run(*command: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=CLIENTS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="module")
async def http_clients() -> Path:
    if not (CLIENTS / "node_modules" / "graphql-sse").is_dir():
        if NPM is None:
            pytest.skip("npm is not installed and tests/clients/node_modules is missing")
        code, _, err = await _run(NPM, "ci", "--no-audit", "--no-fund")
        assert code == 0, err
    return CLIENTS


async def _events(clients: Path, script: str, url: str, *args: str) -> list[dict[str, Any]]:
    assert NODE is not None
    code, out, err = await _run(NODE, str(clients / script), url + "/graphql", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_an_http_client_streams_a_whole_turn(
    http_clients: Path,
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    script: str,
) -> None:
    message = unique("over http ✓")
    events = await _events(
        http_clients, script, chat_server.url, token, str(conversation_id), message
    )
    kinds = [e.get("__typename") for e in events]
    assert kinds[0] == "ChatStarted", events
    assert kinds[-1] == "ChatCompleted"
    assert kinds.count("TextDelta") > 1, "the reply arrived in one piece, not streamed"
    reply = "".join(e["text"] for e in events if e["__typename"] == "TextDelta")
    assert reply == reply_to(message) == events[-1]["message"]["content"]
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["content"] for r in rows] == [message, reply]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_another_users_conversation_is_not_found_over_http(
    http_clients: Path,
    chat_server: ServerThread,
    engine: AsyncEngine,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    script: str,
) -> None:
    intruder = mint_token()
    events = await _events(
        http_clients, script, chat_server.url, intruder, str(conversation_id), "let me in"
    )
    (only,) = events
    assert [e["extensions"]["code"] for e in only["errors"]] == ["NOT_FOUND"]
    assert await saved_messages(engine, user_id, conversation_id) == []

"""The chat turn driven by clients written elsewhere: the npm packages `graphql-ws` and
`@apollo/client` (tests/clients, installed with `npm ci`), run by Node as subprocesses."""

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
from tests.support.server import ServerThread

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


async def _run(*command: str, cwd: Path = CLIENTS) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="module")
async def node_clients() -> Path:
    if not (CLIENTS / "node_modules").is_dir():
        if NPM is None:
            pytest.skip("npm is not installed and tests/clients/node_modules is missing")
        code, _, err = await _run(NPM, "ci", "--no-audit", "--no-fund")
        assert code == 0, err
    return CLIENTS


async def _events(clients: Path, script: str, url: str, *args: str) -> list[dict[str, Any]]:
    assert NODE is not None
    ws_url = url.replace("http://", "ws://") + "/graphql"
    code, out, err = await _run(NODE, str(clients / script), ws_url, *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("script", ["graphql_ws_client.mjs", "apollo_client.mjs"])
async def test_a_third_party_client_streams_a_whole_turn(
    node_clients: Path,
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    script: str,
) -> None:
    message = unique("from node ✓")
    events = await _events(
        node_clients, script, chat_server.url, token, str(conversation_id), message
    )
    kinds = [e.get("__typename") for e in events]
    assert kinds[0] == "ChatStarted", events
    assert kinds[-1] == "ChatCompleted"
    reply = "".join(e["text"] for e in events if e["__typename"] == "TextDelta")
    assert reply == reply_to(message) == events[-1]["message"]["content"]
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["content"] for r in rows] == [message, reply]


@pytest.mark.parametrize("script", ["graphql_ws_client.mjs", "apollo_client.mjs"])
async def test_a_third_party_client_gets_the_error_code(
    node_clients: Path, chat_server: ServerThread, token: str, script: str
) -> None:
    events = await _events(node_clients, script, chat_server.url, token, str(uuid.uuid4()), "hi")
    (only,) = events
    assert [e["extensions"]["code"] for e in only["errors"]] == ["NOT_FOUND"]

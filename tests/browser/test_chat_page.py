"""The chat page at `/`, driven end to end in headless Chromium against the `local` provider:
sign up, a streamed reply appearing as it arrives, a tool call shown, sign out and in again.
The screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerThread

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return (
            "no /usr/bin/chromium: install Debian's chromium (.ci/run does) to run the browser test"
        )
    if shutil.which("node") is None:
        return "no node on PATH: the browser test drives Chromium with Playwright for Node"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return (
            "tests/browser/node_modules is missing: run `npm ci` in tests/browser (make test does)"
        )
    return None


async def test_page_is_served_at_the_root(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/app.js">' in page.text
    script = await client.get("/app.js")
    assert script.status_code == 200
    assert "graphql-transport-ws" in script.text


async def test_a_newcomer_signs_up_and_watches_a_reply_stream_in(server: ServerThread) -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "chat_page.png"
    screenshot.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "chat_page.mjs"),
        server.url + "/",
        str(screenshot),
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 180)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen["reply"] == "Echo: hello from the browser, one word at a time"
    assert len(seen["deltas"]) > 1, "the reply arrived in one piece, not streamed"
    assert "".join(seen["deltas"][: len(seen["deltas"])]).startswith("Echo:")
    assert seen["toolCall"].startswith("search_products(")
    assert "lamp" in seen["toolCall"]
    assert seen["afterTool"].startswith("Tool result:")
    assert seen["reloadedMessages"] >= 4
    assert not seen["chatError"]
    assert not seen["consoleErrors"]
    assert screenshot.stat().st_size > 0

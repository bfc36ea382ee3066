"""GraphiQL at /graphql works offline: the page and every library it runs on come from this
server (vendored by scripts/vendor_graphiql.sh), under a Content-Security-Policy that allows
nothing else; in headless Chromium with every request off loopback refused it renders, and
its default document signs up, starts a conversation and streams a `chat` turn over
graphql-transport-ws. The screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.settings import Settings
from tests.support.server import ServerThread

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
VENDOR = ROOT / "app" / "static" / "graphiql" / "vendor"
VENDORED = ("graphiql", "react", "react-dom", "graphql-ws")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "no /usr/bin/chromium: install Debian's chromium to run the browser test"
    if shutil.which("node") is None:
        return "no node on PATH: the browser test drives Chromium with Playwright for Node"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "tests/browser/node_modules is missing: run `npm ci` in tests/browser"
    return None


@pytest.fixture(scope="module")
def slow_server(settings: Settings) -> Iterator[ServerThread]:
    """The `local` provider writing a word every 100 ms, so that a turn is seen streaming."""
    ai = settings.ai.model_copy(update={"local_delay_ms": 100})
    with ServerThread(create_app(settings.model_copy(update={"ai": ai}))) as thread:
        yield thread


async def test_the_page_loads_only_this_servers_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self'" in policy
    assert "unpkg" not in page.text
    assert "cdn" not in page.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/graphiql/vendor/graphiql.min.js" in assets
    assert "/graphiql/vendor/graphql-ws.min.js" in assets
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith("/graphiql/"), asset
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.content, asset
    # The page's file itself, opened at its own path, goes out under the same policy.
    direct = await client.get("/graphiql/index.html")
    assert direct.status_code == 200
    assert direct.headers["content-security-policy"] == policy
    assert direct.headers["x-content-type-options"] == "nosniff"


async def test_the_page_speaks_graphql_transport_ws_and_shows_the_header_example(
    client: httpx.AsyncClient,
) -> None:
    script = (await client.get("/graphiql/graphiql.js")).text
    assert "graphqlWs.createClient" in script
    assert '"Authorization": "Bearer ${PLACEHOLDER}"' in script
    for name in ("signUp", "createConversation", "conversations", "subscription Chat", "chat("):
        assert name in script


def test_the_vendored_versions_are_the_pinned_ones_with_their_licences() -> None:
    lock = json.loads((ROOT / "scripts" / "graphiql" / "package-lock.json").read_text())
    versions = json.loads((VENDOR / "versions.json").read_text())
    for package in VENDORED:
        assert versions[package] == lock["packages"][f"node_modules/{package}"]["version"]
        licence = (VENDOR / "licenses" / f"{package}.txt").read_text()
        assert "MIT" in licence or "Permission is hereby granted" in licence, package


async def test_graphiql_streams_a_chat_turn_offline(slow_server: ServerThread) -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("graphiql.png", "graphiql_streaming.png"):
        (ARTIFACTS / name).unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "graphiql_page.mjs"),
        slow_server.url,
        str(ARTIFACTS),
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
    assert not seen["blocked"], seen["blocked"]
    assert "/graphiql/vendor/graphiql.min.js" in seen["requested"]
    assert seen["sockets"] == [slow_server.url.replace("http://", "ws://") + "/graphql"]
    assert seen["defaultHeaders"] == '{"Authorization": "Bearer <accessToken>"}'
    assert "subscription Chat" in seen["defaultQuery"]
    streaming, completed = seen["panes"]
    assert streaming["data"]["chat"]["__typename"] == "TextDelta"
    assert completed["data"]["chat"]["__typename"] == "ChatCompleted"
    assert completed["data"]["chat"]["message"]["content"] == f"Echo: {seen['message']}"
    assert seen["deltaFrames"] > 1, "the reply arrived in one piece, not streamed"
    assert not seen["consoleErrors"], seen["consoleErrors"]
    for name in ("graphiql.png", "graphiql_streaming.png"):
        assert (ARTIFACTS / name).stat().st_size > 0

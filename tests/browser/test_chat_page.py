"""The chat page at `/`, driven end to end in headless Chromium (Playwright for Node) against
a server of its own: the `local` echo model slowed to a word every LOCAL_DELAY_MS, so a reply
is still in progress when the walk reloads, stops or watches it from a second tab; a
`broken` alias whose provider (the fake one, on loopback) answers 500; and an hourly limit
the walk runs into at its end.

chat_page.mjs walks every feature at 1280x800 and again at 390x844 in one Node process,
asserting as it goes; the screenshots of each step are kept in tests/artifacts/chat_page/."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.settings import Settings
from gateway.config import AISettings
from tests.chat.fake_provider import FakeProvider
from tests.support.server import ServerThread

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts" / "chat_page"
CHROMIUM = Path("/usr/bin/chromium")
LOCAL_DELAY_MS = 60
MESSAGES_PER_HOUR = 20


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


@pytest.fixture(scope="module")
def page_server(settings: Settings) -> Iterator[ServerThread]:
    provider = FakeProvider()
    with ServerThread(provider) as fake:
        ai = AISettings.model_validate(
            {
                "providers": {"fake": {"base_url": fake.url + "/v1", "api_key": "sk-fake"}},
                "aliases": {"fast": ["local/echo"], "broken": ["fake/fail"]},
                "default_alias": "fast",
                "max_retries": 0,
                "cooldown_failures": 1000,
                "local_delay_ms": LOCAL_DELAY_MS,
            }
        )
        # Above what one walk sends, so the walk ends by running into it.
        chat = settings.chat.model_copy(
            update={"title_model": "fast", "max_messages_per_hour": MESSAGES_PER_HOUR}
        )
        with ServerThread(create_app(settings.model_copy(update={"ai": ai, "chat": chat}))) as app:
            yield app


@pytest.fixture
async def client(page_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=page_server.url, timeout=30) as http:
        yield http


async def test_page_is_served_at_the_root(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/app.js">' in page.text
    script = await client.get("/graphql.js")
    assert script.status_code == 200
    assert "graphql-transport-ws" in script.text
    for module in ("/app.js", "/markdown.js", "/vendor/marked.esm.js", "/vendor/purify.es.js"):
        response = await client.get(module)
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]


async def test_the_page_loads_only_its_own_scripts_and_talks_only_to_its_origin(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/app.js", "/vendor/purify.es.js"):
        policy = (await client.get(path)).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["connect-src"] == "'self'"
        assert directives["img-src"] == "'self' data:"
        assert directives["default-src"] == "'none'"


async def test_the_page_walked_on_a_wide_screen_and_a_phone(page_server: ServerThread) -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "chat_page.mjs"),
        page_server.url + "/",
        str(ARTIFACTS),
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 420)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"{err.decode()}\nscreenshots: {ARTIFACTS}"
    seen = json.loads(out.decode().strip().splitlines()[-1])
    for size in ("wide", "phone"):
        walk = seen[size]
        assert walk["streamedDeltas"] > 1, "a reply arrived in one piece, not streamed"
        assert walk["resumedAfterReload"], "the reply in progress was not rejoined after a reload"
        assert walk["rejoinedAfterDrop"], "the reply was not rejoined after the socket dropped"
        assert walk["lostSendStored"] == 1, "a message whose socket was lost was not stored once"
        assert walk["secondTabSawStreaming"], "the second tab did not see the reply stream"
        assert walk["stoppedNotice"].startswith("Stopped")
        assert walk["versionsAfterEdit"] == ["2 / 2", "1 / 2", "2 / 2"]
        assert walk["scriptRan"] is None, "a script in a reply ran"
        assert walk["titleGenerated"] not in ("New conversation", "New chat")
        assert walk["searchOpened"]
        assert "provider" in walk["providerError"]
        assert walk["refreshedToken"], "the expired access token was not refreshed"
        assert walk["socketRefreshed"], "a socket refused for its token did not refresh it"
        assert "You can send again in" in walk["rateLimited"]
        assert walk["composerInView"]
        assert walk["signedBackIn"]
        assert not walk["consoleErrors"]
    assert seen["phone"]["drawer"] == ["closed", "open", "closed"]
    assert len(list(ARTIFACTS.glob("*.png"))) >= 20

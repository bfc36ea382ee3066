"""`reactor-chat serve` says where it serves, on which database (never its password), with
which models and in which mode; health probes add nothing to its log unless asked to."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from app.banner import banner
from app.settings import Settings
from tests.ops.serving import Served, serve

PASSWORD = "banner-pw-5e1f"  # trust auth on the test server ignores it


def _with_password(database_url: str) -> tuple[str, str]:
    url = make_url(database_url)
    if url.password:
        return database_url, str(url.password)
    return url.set(password=PASSWORD).render_as_string(hide_password=False), PASSWORD


async def _access_paths_until(served: Served, marker: str) -> list[str]:
    """The paths of the access lines logged up to the request for `marker`, which is made
    last: once its line is there, every earlier request's line would be too."""
    async with httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.get(marker)).status_code == 404
    for _ in range(600):
        paths = [
            entry["message"].split('"')[1].split()[1]
            for entry in map(json.loads, filter(None, served.lines))
            if entry["logger"] == "uvicorn.access"
        ]
        if marker in paths:
            return paths
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access line for {marker}:\n" + "\n".join(served.lines))


async def _probe(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        for path in ("/readyz", "/healthz", "/readyz?full=1"):
            assert (await http.get(path)).status_code == 200


async def test_the_banner_names_url_database_models_and_mode(
    tmp_path: Path, database_url: str
) -> None:
    url, password = _with_password(database_url)
    async with serve(tmp_path, url, server__log_format="json") as served:
        await served.terminate()
    banner = "\n".join(served.stdout)
    parsed = make_url(database_url)
    assert f"url       {served.url}/" in banner
    assert f"database  {parsed.username}@{parsed.host}:{parsed.port}/{parsed.database}" in banner
    assert (
        "models    no provider configured: aliases fast (default), power all answer with local/echo"
        in banner
    )
    assert "mode      development (chat page at /, GraphiQL at /graphql)" in banner
    assert password not in "\n".join(served.stdout + served.lines)


async def test_health_probes_add_no_log_line(tmp_path: Path, database_url: str) -> None:
    async with serve(tmp_path, database_url, server__log_format="json") as served:
        before = len(served.lines)
        await _probe(served)
        paths = await _access_paths_until(served, "/after-the-probes")
        await served.terminate()
    assert "/readyz" not in paths
    assert "/healthz" not in paths
    # Nothing else about them either (alembic used to log two lines per look at the schema):
    # the marker's access line is the only one since the probes.
    assert [json.loads(line)["logger"] for line in served.lines[before:] if line][:1] == [
        "uvicorn.access"
    ], served.lines[before:]


async def test_probes_are_logged_when_asked(tmp_path: Path, database_url: str) -> None:
    async with serve(
        tmp_path, database_url, server__log_format="json", server__log_probes="true"
    ) as served:
        await _probe(served)
        paths = await _access_paths_until(served, "/after-the-probes")
        await served.terminate()
    assert paths.count("/readyz") >= 2


def test_the_banner_with_providers_in_production() -> None:
    settings = Settings.model_validate(
        {
            "server": {"environment": "production", "data_dir": "/srv/reactor"},
            "database": {"url": "postgresql+asyncpg://app:s3cret-pw@db.internal:6432/chat"},
            "auth": {"jwt_secret": "x" * 40},
            "ai": {
                "openrouter_api_key": "sk-or-0123456789abcdef",
                "providers": {"ollama": {"base_url": "http://127.0.0.1:11434/v1"}},
                "aliases": {"fast": ["ollama/llama3"], "power": ["openrouter/x/y"]},
            },
        }
    )
    shown = banner(settings, "http://0.0.0.0:8000/")
    assert shown.splitlines()[1:] == [
        "  url       http://0.0.0.0:8000/",
        "  database  app@db.internal:6432/chat",
        "  models    providers openrouter, ollama; aliases fast (default), power",
        "  mode      production (no GraphiQL, introspection or field suggestions)",
    ]
    assert "s3cret" not in shown
    assert "sk-or" not in shown

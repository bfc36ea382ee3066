"""/healthz and /readyz."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from app.asgi import create_app
from app.migrations import upgrade
from app.settings import Settings
from tests.support.database import create_database, drop_database, server_url
from tests.support.server import ServerThread, free_port


async def test_healthz_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200


@pytest.fixture
def behind_by_one(settings: Settings) -> Iterator[str]:
    server = server_url(settings.server.data_dir)
    url = create_database(server)
    upgrade(url, "0002")
    yield url
    drop_database(server, url)


async def test_readyz_refuses_while_migrations_are_behind(
    settings: Settings, behind_by_one: str
) -> None:
    database = settings.database.model_copy(update={"url": SecretStr(behind_by_one)})
    with ServerThread(create_app(settings.model_copy(update={"database": database}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url) as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"]["current"] == ["0002"]


async def test_readyz_refuses_while_the_database_is_unreachable(settings: Settings) -> None:
    nowhere = f"postgresql://root@127.0.0.1:{free_port()}/reactor"
    database = settings.database.model_copy(update={"url": SecretStr(nowhere)})
    with ServerThread(create_app(settings.model_copy(update={"database": database}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable"}
    assert alive.status_code == 200

"""Session fixtures that start real things: a PostgreSQL database migrated to head, and the
app served by uvicorn on loopback. Tests keep apart by using fresh users, not by truncating."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.migrations import upgrade
from app.settings import Settings, load_settings
from db.engine import create_engine
from tests.support.database import create_database, drop_database, server_url
from tests.support.graphql import SECRET, mint_token
from tests.support.server import ServerThread


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reactor")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    server = server_url(data_dir)
    url = create_database(server)
    upgrade(url)
    yield url
    drop_database(server, url)


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    config = data_dir / "Reactor.toml"
    config.write_text("", encoding="utf-8")
    return load_settings(
        config,
        server={"data_dir": str(data_dir)},
        database={"url": database_url, "pool_size": 5},
        # The suite signs up hundreds of users from loopback; the limit's own tests set it.
        auth={"jwt_secret": SECRET, "sign_up_per_address_per_hour": 1_000_000},
        ai={"local_delay_ms": 0},
        # Many turns of one user at once (the hourly limit's race); the cap has its own tests.
        chat={"max_turns_in_flight": 1000},
    )


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings)) as thread:
        yield thread


@pytest.fixture
async def client(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The tests' own pool, for looking at the database behind the API's back."""
    eng = create_engine(database_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture
def user_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def token(user_id: uuid.UUID) -> str:
    return mint_token(user_id)

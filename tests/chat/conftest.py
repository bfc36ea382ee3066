"""A second app whose model aliases all lead to the fake provider on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from db.session import rls_transaction
from gateway.config import AISettings
from tests.chat.fake_provider import FakeProvider
from tests.support.graphql import gql
from tests.support.server import ServerThread

SYSTEM_PROMPT = "You are the test assistant."
HISTORY_LIMIT = 5
BEHAVIOURS = (
    "text",
    "tools",
    "loop",
    "stubborn",
    "stall",
    "hold",
    "slow",
    "long",
    "dirty",
    "broken",
    "fail",
)


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    with ServerThread(provider) as thread:
        provider.url = thread.url  # type: ignore[attr-defined]
        yield provider


@pytest.fixture(scope="session")
def chat_settings(settings: Settings, fake_provider: FakeProvider) -> Settings:
    ai = AISettings.model_validate(
        {
            "providers": {
                "fake": {"base_url": fake_provider.url + "/v1", "api_key": "sk-fake"}  # type: ignore[attr-defined]
            },
            "aliases": {name: [f"fake/{name}"] for name in BEHAVIOURS},
            "default_alias": "text",
            "max_retries": 0,
            "cooldown_failures": 1000,
            "first_token_timeout": 20,
            "chunk_timeout": 20,
        }
    )
    # Turns outlive their clients here, and a `stall` turn never ends by itself: the cap on
    # turns in flight has tests of its own.
    chat = settings.chat.model_copy(
        update={
            "system_prompt": SYSTEM_PROMPT,
            "history_limit": HISTORY_LIMIT,
            "max_turns_in_flight": 1000,
        }
    )
    database = settings.database.model_copy(update={"pool_size": 10, "max_overflow": 10})
    return settings.model_copy(update={"ai": ai, "chat": chat, "database": database})


@pytest.fixture(scope="session")
def chat_server(chat_settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(create_app(chat_settings)) as thread:
        yield thread


@pytest.fixture
async def chat_client(chat_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=chat_server.url, timeout=60) as http:
        yield http


@pytest.fixture
async def conversation_id(chat_client: httpx.AsyncClient, token: str) -> uuid.UUID:
    body = await gql(chat_client, "mutation { createConversation { id } }", token=token)
    return uuid.UUID(body["data"]["createConversation"]["id"])


async def saved_messages(
    engine: AsyncEngine, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The conversation's rows as the database holds them, in order."""
    from sqlalchemy import text

    claims = {"sub": str(user_id), "role": "authenticated"}
    async with rls_transaction(engine, claims) as conn:
        rows = await conn.execute(
            text(
                "select id, role, content, metadata, status from messages"
                " where conversation_id = :c order by seq"
            ),
            {"c": conversation_id},
        )
        return [dict(r) for r in rows.mappings()]


def unique(text: str) -> str:
    return f"{text} [{uuid.uuid4().hex[:8]}]"


@pytest.fixture
def chat_server_url(chat_server: ServerThread) -> str:
    return chat_server.url

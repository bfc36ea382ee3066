from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fake_upstream import (
    AWS_KEY_ID,
    OPENAI_KEY,
    OPENROUTER_KEY,
    FakeUpstream,
    GatewayFactory,
    ServerThread,
)

from gateway import AISettings, Gateway, create_http_client
from gateway.config import ProviderSettings


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    with ServerThread(upstream) as server:
        upstream.url = server.url
        yield upstream


@pytest_asyncio.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The client the app makes, so its transport meets every failure the fake can stage.
    async with create_http_client(AISettings()) as client:
        yield client


@pytest.fixture
def make_gateway(fake: FakeUpstream, http: httpx.AsyncClient) -> GatewayFactory:
    """A Gateway whose providers are all the fake: `fake/…` (OpenAI-compatible),
    `openrouter/…` and `bedrock/…`. Keyword arguments override `[ai]` settings."""

    def make(aliases: dict[str, list[str]] | None = None, **overrides: Any) -> Gateway:
        providers = overrides.pop("providers", {})
        values: dict[str, Any] = {
            "openrouter_api_key": OPENROUTER_KEY,
            "openrouter_base_url": fake.url + "/api/v1",
            "http_referer": "https://reactor.example",
            "aws_access_key_id": AWS_KEY_ID,
            "aws_secret_access_key": FakeUpstream.AWS_SECRET,
            "aws_bedrock_region": FakeUpstream.AWS_REGION,
            "aws_bedrock_endpoint": fake.url,
            "providers": {
                "fake": ProviderSettings(base_url=fake.url + "/v1", api_key=OPENAI_KEY),
                **providers,
            },
            "aliases": aliases or {"fast": ["local/echo"]},
            "default_alias": next(iter(aliases or {"fast": []})),
            "backoff_base": 0.001,
            "backoff_max": 0.005,
            "first_token_timeout": 5.0,
            "chunk_timeout": 5.0,
            "local_delay_ms": 0,
        }
        values.update(overrides)
        return Gateway(AISettings.model_validate(values), http)

    return make

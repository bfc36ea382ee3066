"""A locked-down configuration: introspection and GraphiQL off, a shallow depth limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.asgi import create_app
from app.settings import Settings
from tests.support.graphql import codes, gql
from tests.support.server import ServerThread


@pytest.fixture(scope="module")
async def locked_down(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    server = settings.server.model_copy(
        update={"introspection": False, "graphiql": False, "max_query_depth": 3}
    )
    with ServerThread(create_app(settings.model_copy(update={"server": server}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url) as client:
            yield client


async def test_introspection_can_be_switched_off(locked_down: httpx.AsyncClient) -> None:
    body = await gql(locked_down, "{ __schema { queryType { name } } }")
    assert codes(body)
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert body.get("data") is None


async def test_graphiql_can_be_switched_off(locked_down: httpx.AsyncClient) -> None:
    response = await locked_down.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower()


async def test_too_deep_a_query_is_refused(locked_down: httpx.AsyncClient) -> None:
    query = "{ conversations { edges { node { messages { edges { node { id } } } } } } }"
    body = await gql(locked_down, query)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "depth" in body["errors"][0]["message"]

"""Query limits, field suggestions, error masking: each a rule with a test that breaks it."""

from __future__ import annotations

import httpx

from tests.support.graphql import codes, gql


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient, token: str) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"
    body = await gql(client, query, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_too_many_tokens_are_refused(client: httpx.AsyncClient, token: str) -> None:
    query = "{ " + " ".join("__typename" for _ in range(2500)) + " }"
    body = await gql(client, query, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_a_batch_over_the_limit_is_refused(client: httpx.AsyncClient, token: str) -> None:
    batch = [{"query": "{ __typename }"} for _ in range(11)]
    response = await client.post("/graphql", json=batch)
    assert response.status_code == 400
    small = await client.post("/graphql", json=batch[:2])
    assert small.status_code == 200
    assert [r["data"]["__typename"] for r in small.json()] == ["Query", "Query"]


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    query = "{ __typename }" + " " * 1_100_000
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 413
    assert codes(response.json()) == ["BAD_USER_INPUT"]


async def test_an_oversized_chunked_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"query": "{ __typename }", "x": "'
        for _ in range(200):
            yield b"y" * 10_000
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_field_suggestions_are_off(client: httpx.AsyncClient, token: str) -> None:
    body = await gql(client, "{ conversation { id } conversatons }", token=token)
    assert codes(body)
    assert all("Did you mean" not in e["message"] for e in body["errors"])


async def test_syntax_errors_are_bad_input(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ conversations {")
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_introspection_is_on_in_development(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ __schema { queryType { name } } }")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_is_served_to_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_responses_carry_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "abcdef123456"}
    )
    assert response.headers["x-request-id"] == "abcdef123456"

"""A body that is not UTF-8, nests too deep or is JSON of the wrong shape is a 400 with a
one-line reason in each endpoint's own error format, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.graphql import codes

MALFORMED = {
    "not UTF-8": b'{"query": "{ __typename }", "x": "\xff\xfe"}',
    "not JSON": b'{"query": ',
    "200,000 [": b"[" * 200_000,
    "100 nested objects": b'{"a":' * 100 + b"1" + b"}" * 100,
    "a number": b"5",
    "a string": b'"x"',
    "null": b"null",
    "a list of scalars": b'[1, "x", null]',
    "an empty list": b"[]",
}


def _graphql(body: dict[str, Any]) -> str:
    assert codes(body) == ["BAD_USER_INPUT"]
    message: str = body["errors"][0]["message"]
    return message


def _fn_chat(body: dict[str, Any]) -> str:
    assert set(body) == {"error"}
    message: str = body["error"]
    return message


def _openai(body: dict[str, Any]) -> str:
    assert body["error"]["type"] == "invalid_request_error"
    message: str = body["error"]["message"]
    return message


ENDPOINTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "/graphql": _graphql,
    "/fn/v1/chat": _fn_chat,
    "/ai/v1/chat/completions": _openai,
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("name", MALFORMED)
async def test_a_malformed_body_is_a_400_with_a_reason(
    client: httpx.AsyncClient, token: str, path: str, name: str
) -> None:
    response = await client.post(
        path,
        content=MALFORMED[name],
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400, response.text
    reason = ENDPOINTS[path](response.json())
    assert reason
    assert "\n" not in reason


async def test_a_graphql_batch_of_objects_is_still_served(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": "{ __typename }"}])
    assert response.status_code == 200
    assert response.json() == [{"data": {"__typename": "Query"}}]


async def test_deep_graphql_variables_are_refused(client: httpx.AsyncClient) -> None:
    nested: Any = "x"
    for _ in range(100):
        nested = [nested]
    response = await client.post(
        "/graphql", json={"query": "query($v: String) { __typename }", "variables": {"v": nested}}
    )
    assert response.status_code == 400
    assert "nests deeper" in _graphql(response.json())


async def test_malformed_get_variables_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": "[" * 5000},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    _graphql(response.json())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/fn/v1/chat",
            {"conversation_id": "00000000-0000-0000-0000-000000000000", "message": "a\ud800b"},
        ),
        ("/ai/v1/chat/completions", {"messages": [{"role": "user", "content": "a\ud800b"}]}),
        (
            "/ai/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi", "a\udc00": 1}]},
        ),
        (
            "/ai/v1/chat/completions",
            {"stream": True, "messages": [{"role": "user", "content": "\ud800"}]},
        ),
    ],
    ids=["fn chat message", "openai content", "openai key", "openai streamed"],
)
async def test_an_unpaired_surrogate_is_a_400(
    client: httpx.AsyncClient, token: str, path: str, body: dict[str, Any]
) -> None:
    # Valid JSON (an escape), but not text: it cannot be stored or sent on.
    response = await client.post(
        path,
        content=json.dumps(body),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400, response.text
    assert "surrogate" in ENDPOINTS[path](response.json())

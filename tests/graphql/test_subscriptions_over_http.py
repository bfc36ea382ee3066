"""Subscriptions over HTTP: streamed to a request that accepts an HTTP stream (graphql-sse's
`text/event-stream`, Apollo's `multipart/mixed;subscriptionSpec=1.0`), with the context,
authentication and limits of any request; refused with a 400 naming the transports when the
request asks for one JSON answer, instead of being run once as a query and answered 200 with
null data. The npm clients speaking these: tests/chat/test_http_stream_clients.py."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.ops.metrics_text import scrape, value
from tests.support.graphql import codes, gql, mint_token

SUBSCRIPTION = 'subscription { chat(conversationId: "%s", message: "hello") { __typename } }'
CHAT = """
subscription Turn($c: UUID!, $m: String!) {
  chat(conversationId: $c, message: $m) {
    __typename
    ... on TextDelta { text }
    ... on ChatCompleted { message { content } }
  }
}
"""
SSE = "text/event-stream"
MULTIPART = 'multipart/mixed;subscriptionSpec="1.0",application/json'


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    for transport in ("graphql-transport-ws", "graphql-ws", "text/event-stream", "multipart"):
        assert transport in message


def _sse_results(text: str) -> list[dict[str, Any]]:
    """The `next` events' payloads, and a final {"complete": True} if the stream completed."""
    results: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        event = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = "".join(line[6:] for line in lines if line.startswith("data: "))
        if event == "next":
            results.append(json.loads(data))
        elif event == "complete":
            results.append({"complete": True})
    return results


def _multipart_results(response: httpx.Response) -> list[dict[str, Any]]:
    """The parts' payloads (heartbeats, `{}`, left out), and {"complete": True} at the
    closing boundary."""
    boundary = re.search(r'boundary="?([^;,"]+)', response.headers["content-type"])
    assert boundary is not None, response.headers
    delimiter = f"--{boundary.group(1)}"
    results: list[dict[str, Any]] = []
    for part in response.text.split(delimiter):
        if part.startswith("--"):
            results.append({"complete": True})
            break
        _, _, body = part.partition("\r\n\r\n")
        if body.strip():
            parsed = json.loads(body)
            if "payload" in parsed:
                results.append(parsed["payload"])
    return results


async def _stream(
    client: httpx.AsyncClient,
    accept: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> list[dict[str, Any]]:
    headers = {"accept": accept, **({"authorization": f"Bearer {token}"} if token else {})}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    if accept == SSE:
        assert response.headers["content-type"].startswith("text/event-stream")
        return _sse_results(response.text)
    assert response.headers["content-type"].startswith("multipart/mixed")
    return _multipart_results(response)


async def _conversation(client: httpx.AsyncClient, token: str) -> str:
    body = await gql(client, "mutation { createConversation { id } }", token=token)
    conversation_id: str = body["data"]["createConversation"]["id"]
    return conversation_id


@pytest.mark.parametrize("accept", [SSE, MULTIPART])
async def test_a_chat_turn_streams_over_http(
    client: httpx.AsyncClient, token: str, accept: str
) -> None:
    conversation_id = await _conversation(client, token)
    results = await _stream(
        client, accept, CHAT, {"c": conversation_id, "m": "over http"}, token=token
    )
    assert results[-1] == {"complete": True}
    events = [r["data"]["chat"] for r in results[:-1]]
    assert events[0]["__typename"] == "ChatStarted"
    assert events[-1]["__typename"] == "ChatCompleted"
    text = "".join(e["text"] for e in events if e["__typename"] == "TextDelta")
    assert text == "Echo: over http" == events[-1]["message"]["content"]


@pytest.mark.parametrize("accept", [SSE, MULTIPART])
async def test_another_users_conversation_is_not_found_over_http(
    client: httpx.AsyncClient, token: str, accept: str
) -> None:
    conversation_id = await _conversation(client, token)
    other = mint_token()
    results = await _stream(client, accept, CHAT, {"c": conversation_id, "m": "hi"}, token=other)
    assert [codes(r) for r in results[:-1]] == [["NOT_FOUND"]]
    assert results[-1] == {"complete": True}


@pytest.mark.parametrize("accept", [SSE, MULTIPART])
async def test_a_stream_without_a_token_is_unauthenticated(
    client: httpx.AsyncClient, accept: str
) -> None:
    results = await _stream(client, accept, CHAT, {"c": str(uuid.uuid4()), "m": "hi"})
    assert [codes(r) for r in results[:-1]] == [["UNAUTHENTICATED"]]


@pytest.mark.parametrize("accept", [SSE, MULTIPART])
async def test_the_query_limits_hold_over_http_streams(
    client: httpx.AsyncClient, token: str, accept: str
) -> None:
    aliased = " ".join(
        f"a{i}: chat(conversationId: $c, message: $m) {{ __typename }}" for i in range(40)
    )
    query = f"subscription S($c: UUID!, $m: String!) {{ {aliased} }}"
    results = await _stream(client, accept, query, {"c": str(uuid.uuid4()), "m": "hi"}, token)
    assert [codes(r) for r in results[:-1]] == [["BAD_USER_INPUT"]]


async def test_open_http_streams_are_counted(client: httpx.AsyncClient, token: str) -> None:
    conversation_id = await _conversation(client, token)
    events = "subscription E($c: UUID!) { conversationEvents(conversationId: $c) { __typename } }"
    before = value(await scrape(client), "reactor_http_streams")
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as other:
        async with other.stream(
            "POST",
            "/graphql",
            json={"query": events, "variables": {"c": conversation_id}},
            headers={"accept": SSE, "authorization": f"Bearer {token}"},
        ) as response:
            assert response.status_code == 200
            during = value(await scrape(client), "reactor_http_streams")
    assert during - before == 1
    for _ in range(100):
        after = value(await scrape(client), "reactor_http_streams")
        if after == before:
            break
    assert after == before


async def test_a_query_over_sse_is_answered_and_completes(
    client: httpx.AsyncClient, token: str
) -> None:
    results = await _stream(client, SSE, "{ __typename }", token=token)
    assert results == [{"data": {"__typename": "Query"}}, {"complete": True}]


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_subscription_asking_for_one_json_answer_is_refused(
    client: httpx.AsyncClient, token: str, accept: str
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": SUBSCRIPTION % uuid.uuid4()},
        headers={"accept": accept, "authorization": f"Bearer {token}"},
    )
    _assert_refused(response)


@pytest.mark.parametrize("accept", ["application/json", SSE, MULTIPART])
async def test_a_subscription_over_get_is_refused(
    client: httpx.AsyncClient, token: str, accept: str
) -> None:
    # A GET that streams would start a chat turn from a URL a proxy may log or repeat.
    response = await client.get(
        "/graphql",
        params={"query": SUBSCRIPTION % uuid.uuid4()},
        headers={"accept": accept, "authorization": f"Bearer {token}"},
    )
    _assert_refused(response)


async def test_a_batch_holding_a_subscription_is_refused(
    client: httpx.AsyncClient, token: str
) -> None:
    batch = [{"query": "{ __typename }"}, {"query": SUBSCRIPTION % uuid.uuid4()}]
    response = await client.post(
        "/graphql", json=batch, headers={"authorization": f"Bearer {token}"}
    )
    _assert_refused(response)


@pytest.mark.parametrize("accept", [SSE, MULTIPART])
async def test_a_batch_is_not_streamed(client: httpx.AsyncClient, token: str, accept: str) -> None:
    batch = [{"query": SUBSCRIPTION % uuid.uuid4()}, {"query": SUBSCRIPTION % uuid.uuid4()}]
    response = await client.post(
        "/graphql", json=batch, headers={"accept": accept, "authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert "Batching is not supported" in response.json()["errors"][0]["message"]


async def test_a_mutation_over_get_is_still_refused_as_such(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "mutation { signOut }"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert "mutations are not allowed" in response.json()["errors"][0]["message"]

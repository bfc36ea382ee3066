"""/metrics: every metric an operator alerts on is there, and GraphQL operations, their errors
and open WebSockets are counted."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import websockets

from schema.metrics import MAX_OPERATION_NAMES, operation_label
from tests.ops.metrics_text import scrape, value
from tests.support.graphql import gql
from tests.support.server import ServerThread

EXPECTED = [
    "reactor_graphql_requests",
    "reactor_graphql_errors",
    "reactor_graphql_operation_duration_seconds",
    "reactor_websocket_connections",
    "reactor_http_streams",
    "reactor_graphql_active_subscriptions",
    "reactor_chat_turns",
    "reactor_chat_time_to_first_token_seconds",
    "reactor_chat_turn_duration_seconds",
    "reactor_chat_streaming_turns",
    "reactor_rate_limit_refusals",
    "reactor_gateway_provider_requests",
    "reactor_gateway_provider_errors",
    "reactor_gateway_retries",
    "reactor_gateway_fallbacks",
    "reactor_gateway_time_to_first_token_seconds",
    "reactor_gateway_tokens",
]


async def test_metrics_are_served_in_prometheus_text_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for name in EXPECTED:
        assert re.search(rf"^# TYPE {name}(_total)? ", response.text, re.M), name


async def test_operations_are_counted_by_name_and_type(
    client: httpx.AsyncClient, token: str
) -> None:
    before = value(
        await scrape(client), "reactor_graphql_requests_total", operation="OpsProbe", type="query"
    )
    for _ in range(3):
        body = await gql(client, "query OpsProbe { models { name } }", token=token)
        assert "errors" not in body
    body = await gql(
        client, 'mutation OpsCreate { createConversation(title: "t") { id } }', token=token
    )
    assert "errors" not in body
    text = await scrape(client)
    after = value(text, "reactor_graphql_requests_total", operation="OpsProbe", type="query")
    assert after - before == 3
    assert (
        value(text, "reactor_graphql_requests_total", operation="OpsCreate", type="mutation") >= 1
    )


async def test_errors_are_counted_by_code(client: httpx.AsyncClient) -> None:
    labels = {"operation": "OpsNoToken", "type": "query", "code": "UNAUTHENTICATED"}
    before = value(await scrape(client), "reactor_graphql_errors_total", **labels)
    body = await gql(client, "query OpsNoToken { conversations { edges { cursor } } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    after = value(await scrape(client), "reactor_graphql_errors_total", **labels)
    assert after - before == 1


async def test_invalid_documents_count_as_bad_user_input(client: httpx.AsyncClient) -> None:
    labels = {"operation": "OpsInvalid", "type": "query", "code": "BAD_USER_INPUT"}
    before = value(await scrape(client), "reactor_graphql_errors_total", **labels)
    body = await gql(client, "query OpsInvalid { noSuchField }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    after = value(await scrape(client), "reactor_graphql_errors_total", **labels)
    assert after - before == 1


def test_operation_names_cannot_grow_the_label_set_without_bound() -> None:
    assert operation_label(None) == "anonymous"
    assert operation_label("not a name; drop table") == "other"
    assert operation_label("x" * 65) == "other"
    names = {operation_label(f"Flood{uuid.uuid4().hex}") for _ in range(MAX_OPERATION_NAMES + 5)}
    assert "other" in names
    assert len(names) <= MAX_OPERATION_NAMES + 1


async def test_open_websockets_are_counted(
    server: ServerThread, client: httpx.AsyncClient, token: str
) -> None:
    before = value(await scrape(client), "reactor_websocket_connections")
    url = server.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        during = value(await scrape(client), "reactor_websocket_connections")
    assert during - before == 1
    for _ in range(100):
        after = value(await scrape(client), "reactor_websocket_connections")
        if after == before:
            break
    assert after == before

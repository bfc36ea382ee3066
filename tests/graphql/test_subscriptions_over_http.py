"""A subscription sent over plain HTTP is refused with a 400 that names the WebSocket
subprotocols, instead of being run once as a query and answered 200 with null data."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.graphql import codes

SUBSCRIPTION = 'subscription { chat(conversationId: "%s", message: "hello") { __typename } }'


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400
    body = response.json()
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "WebSocket" in message
    assert "graphql-transport-ws" in message
    assert "graphql-ws" in message


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        # Apollo Client's HTTP subscriptions and graphql-sse: no HTTP stream transport is
        # configured, so these are refused the same way rather than run as a query.
        "multipart/mixed;subscriptionSpec=1.0,application/json",
        "text/event-stream",
    ],
)
async def test_a_subscription_over_http_is_refused(
    client: httpx.AsyncClient, token: str, accept: str
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": SUBSCRIPTION % uuid.uuid4()},
        headers={"accept": accept, "authorization": f"Bearer {token}"},
    )
    _assert_refused(response)


async def test_a_subscription_over_get_is_refused(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(
        "/graphql",
        params={"query": SUBSCRIPTION % uuid.uuid4()},
        headers={"accept": "application/json", "authorization": f"Bearer {token}"},
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


async def test_a_mutation_over_get_is_still_refused_as_such(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "mutation { signOut }"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert "mutations are not allowed" in response.json()["errors"][0]["message"]

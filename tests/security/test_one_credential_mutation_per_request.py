"""One HTTP request (or WebSocket operation) runs at most one of signUp, signIn and
refreshSession: aliases, fragments and batches are refused before any password is hashed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.settings import Settings
from schema.credential_limit import ONE_CREDENTIAL_MUTATION
from tests.auth.apps import CountingPasswords, OwnApp, own_app
from tests.auth.flows import PASSWORD, SIGN_IN, client_from, new_email, sign_up
from tests.chat.ws_client import GraphQLWebSocket, SubscriptionError
from tests.support.graphql import codes, gql

ARGS = f'email: "{{email}}", password: "{PASSWORD}"'


def _aliased_sign_ins(email: str, count: int) -> str:
    args = ARGS.format(email=email)
    return (
        "mutation { "
        + " ".join(f"a{i}: signIn({args}) {{ accessToken }}" for i in range(count))
        + " }"
    )


def _refused(body: dict[str, Any]) -> bool:
    return (
        body.get("data") is None
        and codes(body) == ["BAD_USER_INPUT"]
        and body["errors"][0]["message"] == ONE_CREDENTIAL_MUTATION
    )


@pytest.fixture(scope="module")
def app(settings: Settings) -> Iterator[OwnApp]:
    with own_app(settings) as served:
        yield served


@pytest.fixture
async def account(app: OwnApp) -> dict[str, Any]:
    async with client_from(app.url) as client:
        return await sign_up(client)


@pytest.fixture
def passwords(app: OwnApp, account: dict[str, Any]) -> CountingPasswords:
    """Counting from after the account's sign-up."""
    return app.use_passwords(CountingPasswords)


@pytest.fixture
async def client(app: OwnApp) -> Iterator[httpx.AsyncClient]:
    async with client_from(app.url) as http:
        yield http


async def test_thirty_aliased_sign_ins_are_refused_without_a_hash(
    client: httpx.AsyncClient, account: dict[str, Any], passwords: CountingPasswords
) -> None:
    body = await gql(client, _aliased_sign_ins(account["user"]["email"], 30))
    assert _refused(body)
    assert passwords.computed == 0


@pytest.mark.parametrize(
    "document",
    [
        # Through named fragments and inline ones, and two different mutations.
        "mutation { ...A ...B } fragment A on Mutation { a: signIn(ARGS) { accessToken } }"
        " fragment B on Mutation { b: signIn(ARGS) { accessToken } }",
        "mutation { ... on Mutation { a: signIn(ARGS) { accessToken } } b: signIn(ARGS) { accessToken } }",
        'mutation { signUp(ARGS) { accessToken } refreshSession(refreshToken: "x") { accessToken } }',
        # A fragment that spreads itself must not hang the rule (another rule refuses it).
        "mutation { ...A } fragment A on Mutation { ...A a: signIn(ARGS) { accessToken } b: signIn(ARGS) { accessToken } }",
    ],
    ids=["named fragments", "inline fragment", "two kinds", "fragment cycle"],
)
async def test_two_credential_mutations_in_one_operation_are_refused(
    client: httpx.AsyncClient,
    account: dict[str, Any],
    passwords: CountingPasswords,
    document: str,
) -> None:
    query = document.replace("ARGS", ARGS.format(email=account["user"]["email"]))
    body = await gql(client, query)
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert ONE_CREDENTIAL_MUTATION in [e["message"] for e in body["errors"]]
    assert passwords.computed == 0


async def test_one_sign_in_through_a_fragment_is_served(
    client: httpx.AsyncClient, account: dict[str, Any], passwords: CountingPasswords
) -> None:
    args = ARGS.format(email=account["user"]["email"])
    query = f"mutation {{ ...A }} fragment A on Mutation {{ me: signIn({args}) {{ accessToken }} }}"
    body = await gql(client, query)
    assert body.get("errors") is None
    assert passwords.computed == 1


async def test_a_batch_of_two_single_sign_ins_is_refused_whole(
    client: httpx.AsyncClient, account: dict[str, Any], passwords: CountingPasswords
) -> None:
    variables = {"email": account["user"]["email"], "password": PASSWORD}
    batch = [{"query": SIGN_IN, "variables": variables}] * 2
    response = await client.post("/graphql", json=batch)
    assert [_refused(body) for body in response.json()] == [True, True]
    assert passwords.computed == 0


async def test_a_batch_with_one_sign_in_is_served(
    client: httpx.AsyncClient, account: dict[str, Any], passwords: CountingPasswords
) -> None:
    variables = {"email": account["user"]["email"], "password": PASSWORD}
    batch = [{"query": SIGN_IN, "variables": variables}, {"query": "{ __typename }"}]
    response = await client.post("/graphql", json=batch)
    signed_in, typename = response.json()
    assert signed_in.get("errors") is None
    assert typename == {"data": {"__typename": "Query"}}
    assert passwords.computed == 1


async def test_a_websocket_operation_with_two_sign_ins_is_refused(
    app: OwnApp, account: dict[str, Any], passwords: CountingPasswords
) -> None:
    async with GraphQLWebSocket(app.url, None) as ws:
        op_id = await ws.start(_aliased_sign_ins(account["user"]["email"], 2), {})
        with pytest.raises(SubscriptionError) as refused:
            _ = [data async for data in ws.results(op_id)]
    assert refused.value.codes == ["BAD_USER_INPUT"]
    assert refused.value.errors[0]["message"] == ONE_CREDENTIAL_MUTATION
    assert passwords.computed == 0


async def test_sign_ins_of_other_requests_are_not_counted(
    client: httpx.AsyncClient, passwords: CountingPasswords
) -> None:
    email = new_email()
    await sign_up(client, email)
    for _ in range(2):
        body = await gql(client, SIGN_IN, {"email": email, "password": PASSWORD})
        assert body.get("errors") is None
    assert passwords.computed == 3

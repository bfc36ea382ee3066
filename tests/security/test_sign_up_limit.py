"""Sign-ups are limited per client address and hour, exactly, in every server process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from app.settings import Settings
from resolvers.auth.addresses import client_key
from resolvers.auth.settings import AuthSettings
from tests.auth.apps import CountingPasswords, OwnApp, own_app
from tests.auth.flows import PASSWORD, SIGN_UP, client_from, fresh_address, new_email
from tests.support.graphql import codes, gql

DEFAULT_LIMIT = AuthSettings().sign_up_per_address_per_hour
HOUR = 3600


def _rate_limited(body: dict[str, Any]) -> bool:
    if codes(body) != ["RATE_LIMITED"]:
        return False
    return bool(0 < body["errors"][0]["extensions"]["retryAfter"] <= HOUR)


@pytest.fixture(scope="module")
def app(settings: Settings) -> Iterator[OwnApp]:
    """The default limit, which the suite's own settings lift."""
    with own_app(settings, auth={"sign_up_per_address_per_hour": DEFAULT_LIMIT}) as served:
        yield served


async def test_the_eleventh_sign_up_from_an_address_is_refused(app: OwnApp) -> None:
    assert DEFAULT_LIMIT == 10
    address = fresh_address()
    async with client_from(app.url, address) as client:
        for _ in range(DEFAULT_LIMIT):
            body = await gql(client, SIGN_UP, {"email": new_email(), "password": PASSWORD})
            assert body.get("errors") is None
        passwords = app.use_passwords(CountingPasswords)
        refused = await gql(client, SIGN_UP, {"email": new_email(), "password": PASSWORD})
        assert _rate_limited(refused)
        assert passwords.computed == 0
    async with client_from(app.url) as elsewhere:
        body = await gql(elsewhere, SIGN_UP, {"email": new_email(), "password": PASSWORD})
        assert body.get("errors") is None


async def test_a_taken_email_counts_too(app: OwnApp) -> None:
    email = new_email()
    async with client_from(app.url) as client:
        for _ in range(DEFAULT_LIMIT):
            await gql(client, SIGN_UP, {"email": email, "password": PASSWORD})
        assert _rate_limited(
            await gql(client, SIGN_UP, {"email": new_email(), "password": PASSWORD})
        )


async def test_a_concurrent_burst_over_two_processes_gets_exactly_the_limit(
    settings: Settings,
) -> None:
    limit = 3
    address = fresh_address()
    with (
        own_app(settings, auth={"sign_up_per_address_per_hour": limit}) as one,
        own_app(settings, auth={"sign_up_per_address_per_hour": limit}) as two,
    ):
        async with client_from(one.url, address) as a, client_from(two.url, address) as b:
            bodies = await asyncio.gather(
                *(
                    gql(client, SIGN_UP, {"email": new_email(), "password": PASSWORD})
                    for client in [a, b] * (limit + 1)
                )
            )
    outcomes = [codes(body) for body in bodies]
    assert outcomes.count([]) == limit
    assert outcomes.count(["RATE_LIMITED"]) == len(bodies) - limit


def test_an_ipv6_client_is_counted_by_its_slash_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") != client_key("192.0.2.8")
    assert client_key(None) == client_key("")

"""Failed sign-ins are limited per email and per client address, in every server process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from app.asgi import create_app
from app.settings import Settings
from tests.auth.flows import client_from, fresh_address, new_email, sign_in, sign_up
from tests.support.graphql import codes
from tests.support.server import ServerThread


def _refusals() -> float:
    value = REGISTRY.get_sample_value("reactor_rate_limit_refusals_total", {"limit": "sign_in"})
    return value or 0.0


async def _fail(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        assert codes(await sign_in(client, email, "wrong password")) == ["UNAUTHENTICATED"]


def _rate_limited(body: dict[str, object], settings: Settings) -> bool:
    errors = body.get("errors")
    assert isinstance(errors, list)
    extensions = errors[0]["extensions"]
    retry_after = extensions["retryAfter"]
    return bool(
        extensions["code"] == "RATE_LIMITED" and 0 < retry_after <= settings.auth.sign_in_window
    )


@pytest.fixture(scope="module")
def second_process(settings: Settings) -> Iterator[ServerThread]:
    """Another server on the same database, as another worker process would be."""
    with ServerThread(create_app(settings)) as thread:
        yield thread


async def test_failed_sign_ins_per_email_are_limited(
    server: ServerThread, settings: Settings
) -> None:
    limit = settings.auth.sign_in_max_failures
    email = new_email()
    async with client_from(server.url) as client:
        await sign_up(client, email)
        await _fail(client, email, limit)
        before = _refusals()
        # Even the right password, from anywhere, waits now: the email is under attack.
        assert _rate_limited(await sign_in(client, email), settings)
    async with client_from(server.url) as elsewhere:
        assert _rate_limited(await sign_in(elsewhere, email), settings)
    assert _refusals() == before + 2


async def test_failed_sign_ins_per_address_are_limited(
    server: ServerThread, settings: Settings
) -> None:
    limit = settings.auth.sign_in_max_failures
    async with client_from(server.url) as client:
        for _ in range(limit):
            await _fail(client, new_email(), 1)
        email = new_email()
        await sign_up(client, email)
        assert _rate_limited(await sign_in(client, email), settings)
    # The same account from another address is fine: the limit was the address's.
    async with client_from(server.url) as other:
        assert (await sign_in(other, email)).get("errors") is None


async def test_the_limit_holds_across_server_processes(
    server: ServerThread, second_process: ServerThread, settings: Settings
) -> None:
    limit = settings.auth.sign_in_max_failures
    address, email = fresh_address(), new_email()
    async with (
        client_from(server.url, address) as one,
        client_from(second_process.url, address) as two,
    ):
        await _fail(one, email, limit // 2)
        await _fail(two, email, limit - limit // 2)
        assert _rate_limited(await sign_in(one, email), settings)
        assert _rate_limited(await sign_in(two, email), settings)


async def test_a_successful_sign_in_does_not_count_as_a_failure(
    server: ServerThread, settings: Settings
) -> None:
    email = new_email()
    async with client_from(server.url) as client:
        await sign_up(client, email)
        for _ in range(settings.auth.sign_in_max_failures + 2):
            assert (await sign_in(client, email)).get("errors") is None


async def test_a_burst_of_concurrent_attempts_gets_no_more_than_the_limit(
    server: ServerThread, settings: Settings
) -> None:
    limit = settings.auth.sign_in_max_failures
    email = new_email()
    async with client_from(server.url) as client:
        await sign_up(client, email)
        bodies = await asyncio.gather(
            *(sign_in(client, email, "wrong password") for _ in range(3 * limit))
        )
    answered = [codes(b) for b in bodies]
    assert answered.count(["UNAUTHENTICATED"]) <= limit
    assert answered.count(["RATE_LIMITED"]) >= 2 * limit

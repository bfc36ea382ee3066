"""Failed sign-ins lock a (client address, email) pair, limit an address across emails, and
slow an email attacked from many addresses without ever locking it; in every server process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from app.settings import Settings
from resolvers.auth import sign_in_limits
from tests.auth.apps import CountingPasswords, own_app
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


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The slow-down's waits, recorded instead of waited out."""
    waited: list[float] = []

    async def record(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(sign_in_limits, "pause", record)
    return waited


@pytest.fixture(scope="module")
def second_process(settings: Settings) -> Iterator[ServerThread]:
    """Another server on the same database, as another worker process would be."""
    with own_app(settings) as app:
        yield app.server


async def test_failures_lock_the_pair_and_never_the_owner_elsewhere(
    server: ServerThread, settings: Settings, pauses: list[float]
) -> None:
    limit = settings.auth.sign_in_max_failures
    email = new_email()
    async with client_from(server.url) as owner_at_home:
        await sign_up(owner_at_home, email)
    async with client_from(server.url) as attacker:
        await _fail(attacker, email, limit)
        before = _refusals()
        # The eleventh failure from that address: refused, whatever the password.
        assert _rate_limited(await sign_in(attacker, email, "wrong password"), settings)
        assert _rate_limited(await sign_in(attacker, email), settings)
        assert _refusals() == before + 2
    async with client_from(server.url) as owner_elsewhere:
        assert (await sign_in(owner_elsewhere, email)).get("errors") is None


async def test_failed_sign_ins_per_address_across_emails_are_limited(
    settings: Settings,
) -> None:
    per_address = 5
    with own_app(settings, auth={"sign_in_max_failures_per_address": per_address}) as app:
        address = fresh_address()
        async with client_from(app.url, address) as stuffer:
            for _ in range(per_address):
                await _fail(stuffer, new_email(), 1)
            email = new_email()
            await sign_up(stuffer, email)
            passwords = app.use_passwords(CountingPasswords)
            assert _rate_limited(await sign_in(stuffer, email), app.settings)
            assert _rate_limited(await sign_in(stuffer, new_email()), app.settings)
            assert passwords.computed == 0
        # The same account from another address is fine: the limit was the address's.
        async with client_from(app.url) as other:
            assert (await sign_in(other, email)).get("errors") is None


async def test_an_email_attacked_from_many_addresses_is_slowed_never_locked(
    settings: Settings, pauses: list[float]
) -> None:
    after, longest = 4, 3.0
    addresses, failures_each = 3, 5
    with own_app(
        settings,
        auth={"sign_in_email_slowdown_after": after, "sign_in_email_slowdown_max_seconds": longest},
    ) as app:
        email = new_email()
        async with client_from(app.url) as owner:
            await sign_up(owner, email)
        for _ in range(addresses):
            async with client_from(app.url) as attacker:
                await _fail(attacker, email, failures_each)
        # More failures than any lock allows, yet the owner gets in, after the longest wait.
        assert addresses * failures_each > app.settings.auth.sign_in_max_failures
        async with client_from(app.url) as owner:
            assert (await sign_in(owner, email)).get("errors") is None
    earlier = range(after, addresses * failures_each + 1)
    assert pauses == [min(longest, n - after + 1) for n in earlier]
    assert pauses[:3] == [1.0, 2.0, 3.0]
    assert pauses[-1] == longest


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
    server: ServerThread, settings: Settings, pauses: list[float]
) -> None:
    email = new_email()
    async with client_from(server.url) as client:
        await sign_up(client, email)
        for _ in range(settings.auth.sign_in_max_failures + 2):
            assert (await sign_in(client, email)).get("errors") is None
    assert pauses == []


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

"""Backoff, Retry-After and cooldown rules."""

from __future__ import annotations

from email.utils import formatdate

from gateway.cooldown import Cooldowns
from gateway.retry import backoff_delay, parse_retry_after


def test_retry_after_in_seconds_milliseconds_and_http_date() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert (
        parse_retry_after({"retry-after": formatdate(1_000_030, usegmt=True)}, now=1_000_000) == 30
    )
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    assert [backoff_delay(n, 1.0, 5.0, rand=lambda: 1.0) for n in range(4)] == [1, 2, 4, 5]
    assert [backoff_delay(n, 1.0, 5.0, rand=lambda: 0.0) for n in range(4)] == [0.5, 1, 2, 2.5]


def test_backoff_never_comes_before_retry_after() -> None:
    assert backoff_delay(0, 0.5, 8.0, retry_after=3.0, rand=lambda: 1.0) == 3.0


def test_cooldown_starts_after_consecutive_failures_and_ends() -> None:
    now = [0.0]
    cooldowns = Cooldowns(failures=2, seconds=10, clock=lambda: now[0])
    assert cooldowns.failed("a/x") is False
    cooldowns.succeeded("a/x")
    assert cooldowns.failed("a/x") is False
    assert cooldowns.failed("a/x") is True
    assert cooldowns.until("a/x") == 10
    now[0] = 10.5
    assert cooldowns.until("a/x") is None


def test_cooldown_table_stays_bounded() -> None:
    cooldowns = Cooldowns(failures=1000, seconds=10)
    for n in range(5000):
        cooldowns.failed(f"p/{n}")
    assert len(cooldowns._failures) <= 1024

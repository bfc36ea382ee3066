"""Backoff, Retry-After and cooldown rules."""

from __future__ import annotations

from email.utils import formatdate

from gateway.config import AISettings
from gateway.cooldown import Cooldowns
from gateway.errors import INVALID_REQUEST, RATE_LIMITED, UNAVAILABLE, ProviderError
from gateway.retry import backoff_delay, parse_retry_after, retry_delay


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


def test_retry_policy_gives_up_on_a_final_error_spent_retries_a_long_wait_or_no_time() -> None:
    settings = AISettings(backoff_base=0.1, backoff_max=0.1, max_retries=2, max_retry_after=20)
    busy = ProviderError(UNAVAILABLE, "HTTP 503", retryable=True)
    delay = retry_delay(busy, 0, settings, now=0, end=300)
    assert delay is not None
    assert 0.05 <= delay <= 0.1
    assert retry_delay(ProviderError(INVALID_REQUEST, "HTTP 400"), 0, settings, 0, 300) is None
    assert retry_delay(busy, 2, settings, now=0, end=300) is None
    slow = ProviderError(RATE_LIMITED, "HTTP 429", retryable=True, retry_after=60)
    assert retry_delay(slow, 0, settings, now=0, end=300) is None
    soon = ProviderError(RATE_LIMITED, "HTTP 429", retryable=True, retry_after=5)
    assert retry_delay(soon, 0, settings, now=0, end=300) == 5
    assert retry_delay(soon, 0, settings, now=296, end=300) is None


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

"""When to try a target again: exponential backoff with jitter, and `Retry-After`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from gateway.config import AISettings
from gateway.errors import ProviderError


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number `attempt + 1`: "equal jitter" over `base * 2**attempt`
    capped at `cap`, so clients that failed together do not retry together; never less
    than the server's `Retry-After`."""
    ceiling = min(cap, base * 2.0**attempt)
    delay = ceiling / 2 + rand() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def retry_delay(
    error: ProviderError, attempt: int, settings: AISettings, now: float, end: float
) -> float | None:
    """The wait before trying the same target again after its attempt number `attempt`
    (from 0) failed before its first event, or None to move on: the error is not retryable,
    the retries are spent, the server asks to wait longer than `max_retry_after`, or the
    wait would reach the turn's total deadline `end`."""
    delay = backoff_delay(attempt, settings.backoff_base, settings.backoff_max, error.retry_after)
    if (
        not error.retryable
        or attempt >= settings.max_retries
        or (error.retry_after or 0) > settings.max_retry_after
        or now + delay >= end
    ):
        return None
    return delay

"""One attempt at one target: a provider slot, the provider's stream, its first event within
the first-token deadline, then its events within the turn's total deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from gateway import metrics
from gateway.config import AISettings
from gateway.cooldown import Cooldowns
from gateway.deadline import Deadline
from gateway.errors import TIMEOUT, TRUNCATED, ProviderError
from gateway.events import ErrorEvent, Event, Started, UsageEvent
from gateway.limits import ProviderLimits
from gateway.providers import Provider
from gateway.request import ChatRequest

log = logging.getLogger("reactor.gateway")

INTERRUPTED_MESSAGE = "The reply was interrupted. Please try again."


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    # `provider/model`
    name: str
    # The metrics label: bounded even when callers name raw targets.
    label: str


class OutOfTime(Exception):
    """The turn's total deadline came before an attempt could begin: nothing more is tried."""


class Turn:
    """One call of `Gateway.stream`: the request, and the clock its deadlines run on."""

    __slots__ = ("begin", "cooldowns", "deadline", "end", "loop", "request", "settings")

    def __init__(self, request: ChatRequest, settings: AISettings, cooldowns: Cooldowns) -> None:
        self.request = request
        self.settings = settings
        self.cooldowns = cooldowns
        self.loop = asyncio.get_running_loop()
        self.begin = self.loop.time()
        self.end = self.begin + settings.total_timeout
        # One timer for the whole turn, re-armed for each attempt and once committed.
        self.deadline = Deadline(self.loop)


async def attempt(
    turn: Turn, target: Target, provider: Provider, limits: ProviderLimits, number: int
) -> AsyncGenerator[Event, None]:
    """Attempt `number` (from 0) at `target`: `Started` once the provider's first event came
    within the first-token deadline, then the provider's events within the total deadline; a
    failure after `Started` ends it with an `ErrorEvent`, as nothing may be retried or sent
    twice from there on.

    Raises the `ProviderError` that ended it before its first event, or `OutOfTime`. Whatever
    the end, the slot is released, the upstream closed and the outcome counted.
    """
    loop = turn.loop
    start = loop.time()
    if start >= turn.end:
        raise OutOfTime("total timeout")
    turn.deadline.set(min(start + turn.settings.first_token_timeout, turn.end))
    if limits.limited:
        try:
            await asyncio.wait_for(limits.acquire(), turn.end - start)
        except TimeoutError:
            raise OutOfTime("waiting for a provider slot") from None
    events = provider.stream(target.model, turn.request)
    committed = False
    outcome = "cancelled"
    try:
        first = await turn.deadline.next(events)
        # Committed: from here on nothing is retried or sent twice.
        committed = True
        metrics.TIME_TO_FIRST_TOKEN.labels(target.label).observe(loop.time() - start)
        turn.cooldowns.succeeded(target.name)
        turn.deadline.set(turn.end)
        yield Started(target.name)
        event: Event = first
        while True:
            if type(event) is UsageEvent:
                _count_tokens(target, event)
            yield event
            try:
                event = await turn.deadline.next(events)
            except StopAsyncIteration:
                break
        outcome = "ok"
        return
    except StopAsyncIteration:
        outcome = "error"
        error = ProviderError(TRUNCATED, "empty stream", retryable=True)
    except TimeoutError:
        outcome = "interrupted" if committed else "error"
        error = ProviderError(TIMEOUT, "deadline passed")
    except ProviderError as exc:
        outcome = "interrupted" if committed else "error"
        error = exc
    finally:
        await events.aclose()
        limits.release()
        metrics.PROVIDER_REQUESTS.labels(target.label, outcome).inc()
        if committed:
            metrics.STREAM_DURATION.labels(target.label).observe(loop.time() - turn.begin)
    metrics.PROVIDER_ERRORS.labels(target.provider, error.kind).inc()
    log.warning("%s attempt %d failed: %s (%s)", target.name, number + 1, error.kind, error)
    if not committed:
        raise error
    yield ErrorEvent(INTERRUPTED_MESSAGE, error.kind, target.name)


def _count_tokens(target: Target, usage: UsageEvent) -> None:
    metrics.TOKENS.labels(target.label, "in").inc(usage.prompt_tokens)
    metrics.TOKENS.labels(target.label, "out").inc(usage.completion_tokens)

"""The gateway: aliases to ordered targets, with retries, fallbacks, cooldowns and limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import httpx

from gateway import metrics
from gateway.config import LOCAL_TARGET, AISettings
from gateway.cooldown import Cooldowns
from gateway.deadline import Deadline
from gateway.errors import (
    INVALID_REQUEST,
    RATE_LIMITED,
    TIMEOUT,
    TRUNCATED,
    UNAVAILABLE,
    CompletionFailed,
    ProviderError,
    UnknownModel,
)
from gateway.events import (
    Completion,
    ErrorEvent,
    Event,
    Finished,
    Started,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from gateway.providers import Provider, build_limits, build_providers
from gateway.request import ChatRequest
from gateway.retry import backoff_delay

log = logging.getLogger("reactor.gateway")

_USER_MESSAGES = {
    TIMEOUT: "The model took too long to respond. Please try again.",
    RATE_LIMITED: "The model is busy right now. Please try again in a moment.",
    INVALID_REQUEST: "The model could not accept this request; it may be too long.",
}
_UNAVAILABLE_MESSAGE = "The model is unavailable right now. Please try again later."
_INTERRUPTED_MESSAGE = "The reply was interrupted. Please try again."


@dataclass(frozen=True, slots=True)
class AliasInfo:
    name: str
    targets: tuple[str, ...]
    is_default: bool


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    # `provider/model`
    name: str
    # The metrics label: bounded even when callers name raw targets.
    label: str


@dataclass(frozen=True, slots=True)
class Route:
    """What `resolve` found: the alias (None for a raw target) and the targets in order."""

    alias: str | None
    targets: tuple[Target, ...]


class Gateway:
    def __init__(self, settings: AISettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._providers: dict[str, Provider] = build_providers(settings, http)
        self._limits = build_limits(settings, list(self._providers))
        self._cooldowns = Cooldowns(settings.cooldown_failures, settings.cooldown_seconds)
        self._routes = self._build_routes(settings)
        self._known = {t.name for route in self._routes.values() for t in route.targets}

    def _target(self, name: str, label: str | None = None) -> Target:
        provider, _, model = name.partition("/")
        return Target(provider, model, name, label or name)

    def _build_routes(self, settings: AISettings) -> dict[str, Route]:
        offline = not settings.any_provider_configured()
        if offline:
            log.info("no LLM provider configured: every alias routes to %s", LOCAL_TARGET)
        routes = {}
        for alias, names in settings.aliases.items():
            if offline:
                names = [LOCAL_TARGET]
            usable = [n for n in names if n.partition("/")[0] in self._providers]
            for name in names:
                if name not in usable:
                    log.warning("alias %s: provider of %s is not configured", alias, name)
            if usable:
                routes[alias] = Route(alias, tuple(self._target(n) for n in usable))
            else:
                log.warning("alias %s has no configured target and is not offered", alias)
        return routes

    def aliases(self) -> list[AliasInfo]:
        default = self._settings.default_alias
        return [
            AliasInfo(name, tuple(t.name for t in route.targets), name == default)
            for name, route in self._routes.items()
        ]

    def resolve(self, model: str | None) -> Route:
        """The route for an alias, a `provider/model` target, or None (the default alias)."""
        name = self._settings.default_alias if model is None else model
        route = self._routes.get(name)
        if route is not None:
            return route
        provider, _, model_id = name.partition("/")
        if (
            provider in self._providers
            and model_id
            and (provider != "local" or name == LOCAL_TARGET)
        ):
            label = name if name in self._known else f"{provider}/other"
            return Route(None, (self._target(name, label),))
        offered = ", ".join(self._routes)
        raise UnknownModel(
            f"Unknown model {name!r}: use an alias ({offered}) or a configured provider/model"
        )

    def _order(self, targets: Sequence[Target]) -> list[Target]:
        """Targets not cooling down; if all are, the one that recovers first."""
        cooling: list[tuple[float, int, Target]] = []
        ready = []
        for n, target in enumerate(targets):
            until = self._cooldowns.until(target.name)
            if until is None:
                ready.append(target)
            else:
                cooling.append((until, n, target))
        return ready or [min(cooling)[2]]

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole reply; raises `CompletionFailed` when the stream ends in an error."""
        target = ""
        text: list[str] = []
        calls: list[ToolCallEvent] = []
        usage: UsageEvent | None = None
        reason = "stop"
        async for event in self.stream(request):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ToolCallEvent):
                calls.append(event)
            elif isinstance(event, UsageEvent):
                usage = event
            elif isinstance(event, Finished):
                reason = event.reason
            elif isinstance(event, Started):
                target = event.target
            else:
                raise CompletionFailed(event.message, event.kind, event.target)
        return Completion(target, "".join(text), calls, usage, reason)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        """Started, then the served target's events; or an ErrorEvent when all targets fail
        before their first token, or when the served one fails after it."""
        route = self.resolve(request.model)
        settings = self._settings
        loop = asyncio.get_running_loop()
        begin = loop.time()
        end = begin + settings.total_timeout
        deadline = Deadline(loop)
        error = ProviderError(UNAVAILABLE, "no target tried")
        failed: Target | None = None
        order = self._order(route.targets)
        try:
            for position, target in enumerate(order):
                if failed is not None and route.alias is not None:
                    metrics.FALLBACKS.labels(route.alias).inc()
                    log.info(
                        "alias %s: falling back from %s to %s",
                        route.alias,
                        failed.name,
                        target.name,
                    )
                provider = self._providers[target.provider]
                limits = self._limits[target.provider]
                if position + 1 < len(order) and not limits.has_capacity():
                    # Another target is better than queueing for this one.
                    metrics.PROVIDER_REQUESTS.labels(target.label, "skipped").inc()
                    error, failed = ProviderError(RATE_LIMITED, "local limit reached"), target
                    continue
                attempt = 0
                while True:
                    start = loop.time()
                    if start >= end:
                        raise ProviderError(TIMEOUT, "total timeout")
                    deadline.set(min(start + settings.first_token_timeout, end))
                    if limits.limited:
                        try:
                            await asyncio.wait_for(limits.acquire(), end - start)
                        except TimeoutError:
                            raise ProviderError(TIMEOUT, "waiting for a provider slot") from None
                    events = provider.stream(target.model, request)
                    committed = False
                    outcome = "cancelled"
                    try:
                        first = await deadline.next(events)
                        # Committed: from here on nothing is retried or sent twice.
                        committed = True
                        metrics.TIME_TO_FIRST_TOKEN.labels(target.label).observe(
                            loop.time() - start
                        )
                        self._cooldowns.succeeded(target.name)
                        deadline.set(end)
                        yield Started(target.name)
                        event: Event = first
                        while True:
                            if type(event) is UsageEvent:
                                self._count_tokens(target, event)
                            yield event
                            try:
                                event = await deadline.next(events)
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
                            metrics.STREAM_DURATION.labels(target.label).observe(
                                loop.time() - begin
                            )
                    self._record_error(target, error, attempt)
                    if committed:
                        yield ErrorEvent(_INTERRUPTED_MESSAGE, error.kind, target.name)
                        return
                    delay = backoff_delay(
                        attempt, settings.backoff_base, settings.backoff_max, error.retry_after
                    )
                    if (
                        not error.retryable
                        or attempt >= settings.max_retries
                        or (error.retry_after or 0) > settings.max_retry_after
                        or loop.time() + delay >= end
                    ):
                        break
                    attempt += 1
                    metrics.RETRIES.labels(target.label).inc()
                    log.info("retrying %s in %.2fs (attempt %d)", target.name, delay, attempt)
                    await asyncio.sleep(delay)
                failed = target
                if error.kind != INVALID_REQUEST and self._cooldowns.failed(target.name):
                    log.warning(
                        "%s failed %d turns in a row: cooling down for %ss",
                        target.name,
                        settings.cooldown_failures,
                        settings.cooldown_seconds,
                    )
        except ProviderError as exc:
            error = exc
        finally:
            deadline.clear()
        message = _USER_MESSAGES.get(error.kind, _UNAVAILABLE_MESSAGE)
        yield ErrorEvent(message, error.kind, failed.name if failed else None)

    def _record_error(self, target: Target, error: ProviderError, attempt: int) -> None:
        metrics.PROVIDER_ERRORS.labels(target.provider, error.kind).inc()
        log.warning("%s attempt %d failed: %s (%s)", target.name, attempt + 1, error.kind, error)

    def _count_tokens(self, target: Target, usage: UsageEvent) -> None:
        metrics.TOKENS.labels(target.label, "in").inc(usage.prompt_tokens)
        metrics.TOKENS.labels(target.label, "out").inc(usage.completion_tokens)

"""The gateway: aliases to ordered targets, with retries, fallbacks, cooldowns and limits."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import httpx

from gateway import metrics
from gateway.attempt import OutOfTime, Target, Turn, attempt
from gateway.config import LOCAL_TARGET, AISettings
from gateway.cooldown import Cooldowns
from gateway.errors import (
    INVALID_REQUEST,
    PROVIDER_FAULTS,
    RATE_LIMITED,
    TIMEOUT,
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
from gateway.retry import retry_delay

log = logging.getLogger("reactor.gateway")

_USER_MESSAGES = {
    TIMEOUT: "The model took too long to respond. Please try again.",
    RATE_LIMITED: "The model is busy right now. Please try again in a moment.",
    INVALID_REQUEST: "The model could not accept this request; it may be too long.",
}
_UNAVAILABLE_MESSAGE = "The model is unavailable right now. Please try again later."


@dataclass(frozen=True, slots=True)
class AliasInfo:
    name: str
    targets: tuple[str, ...]
    is_default: bool


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

    @property
    def max_output_tokens(self) -> int:
        """The most output tokens a call may ask for: `[ai] max_output_tokens`."""
        return self._settings.max_output_tokens

    def _bounded(self, request: ChatRequest) -> ChatRequest:
        """The request with `max_tokens` set and within the cap, whatever surface sent it,
        so no provider call is open-ended."""
        cap = self._settings.max_output_tokens
        if request.max_tokens is not None and request.max_tokens <= cap:
            return request
        return dataclasses.replace(request, max_tokens=cap)

    def resolve(self, model: str | None) -> Route:
        """The route for an alias, a `provider/model` target, or None (the default alias).

        A raw target must be one an alias lists, unless `allow_any_target`: what a call may
        cost is the operator's choice, not the caller's."""
        name = self._settings.default_alias if model is None else model
        route = self._routes.get(name)
        if route is not None:
            return route
        if name in self._known:
            return Route(None, (self._target(name),))
        provider, _, model_id = name.partition("/")
        if (
            self._settings.allow_any_target
            and provider in self._providers
            and model_id
            and (provider != "local" or name == LOCAL_TARGET)
        ):
            return Route(None, (self._target(name, f"{provider}/other"),))
        offered = ", ".join(self._routes)
        other = (
            "a configured provider/model"
            if self._settings.allow_any_target
            else "one of their targets"
        )
        raise UnknownModel(f"Unknown model {name!r}: use an alias ({offered}) or {other}")

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

    async def complete(self, request: ChatRequest, route: Route | None = None) -> Completion:
        """The whole reply; raises `CompletionFailed` when the stream ends in an error. A
        `route` from `resolve` is used as is, instead of resolving `request.model`."""
        target = ""
        text: list[str] = []
        calls: list[ToolCallEvent] = []
        usage: UsageEvent | None = None
        reason = "stop"
        async for event in self.stream(request, route):
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

    async def stream(
        self, request: ChatRequest, route: Route | None = None
    ) -> AsyncGenerator[Event, None]:
        """Started, then the served target's events; or an ErrorEvent when all targets fail
        before their first token, or when the served one fails after it. A `route` from
        `resolve` is used as is, instead of resolving `request.model`."""
        if route is None:
            route = self.resolve(request.model)
        turn = Turn(self._bounded(request), self._settings, self._cooldowns)
        error = ProviderError(UNAVAILABLE, "no target tried")
        failed: Target | None = None
        order = self._order(route.targets)
        try:
            for position, target in enumerate(order):
                if failed is not None and route.alias is not None:
                    self._count_fallback(route.alias, failed, target)
                if position + 1 < len(order) and not self._limits[target.provider].has_capacity():
                    # Another target is better than queueing for this one.
                    metrics.PROVIDER_REQUESTS.labels(target.label, "skipped").inc()
                    error, failed = ProviderError(RATE_LIMITED, "local limit reached"), target
                    continue
                try:
                    started, events = await self._start(turn, target)
                except ProviderError as exc:
                    error, failed = exc, target
                    self._count_failure(target, error)
                    continue
                async with aclosing(events):
                    yield started
                    async for event in events:
                        yield event
                return
        except OutOfTime as exc:
            error = ProviderError(TIMEOUT, str(exc))
        finally:
            turn.deadline.clear()
        message = _USER_MESSAGES.get(error.kind, _UNAVAILABLE_MESSAGE)
        yield ErrorEvent(message, error.kind, failed.name if failed else None)

    async def _start(self, turn: Turn, target: Target) -> tuple[Event, AsyncGenerator[Event, None]]:
        """The first attempt at `target` to get its first event: that attempt's `Started`,
        and the attempt, to relay the rest of its events. Retried as `retry_delay` allows;
        else raises the last attempt's `ProviderError`. Handing back the started attempt,
        rather than relaying it here, keeps this loop out of the path of every event."""
        provider = self._providers[target.provider]
        limits = self._limits[target.provider]
        number = 0
        while True:
            events = attempt(turn, target, provider, limits, number)
            try:
                return await anext(events), events
            except ProviderError as error:
                delay = retry_delay(error, number, self._settings, turn.loop.time(), turn.end)
                if delay is None:
                    raise
            number += 1
            metrics.RETRIES.labels(target.label).inc()
            log.info("retrying %s in %.2fs (attempt %d)", target.name, delay, number)
            await asyncio.sleep(delay)

    def _count_fallback(self, alias: str, failed: Target, target: Target) -> None:
        metrics.FALLBACKS.labels(alias).inc()
        log.info("alias %s: falling back from %s to %s", alias, failed.name, target.name)

    def _count_failure(self, target: Target, error: ProviderError) -> None:
        """A turn the target failed counts towards its cooldown only when the target was at
        fault (`PROVIDER_FAULTS`); a request it refused says nothing of its health."""
        if error.kind in PROVIDER_FAULTS and self._cooldowns.failed(target.name):
            log.warning(
                "%s failed %d turns in a row: cooling down for %ss",
                target.name,
                self._settings.cooldown_failures,
                self._settings.cooldown_seconds,
            )

"""GraphQL operation metrics and one log line per operation, as a Strawberry extension.

Labels stay bounded whatever clients send: an operation name is kept only when it looks like
a name and fewer than MAX_OPERATION_NAMES distinct ones were seen by this process; the rest
count as `other`. The log line says what ran and how it ended, never its variables.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

from graphql import GraphQLError
from prometheus_client import Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension

log = logging.getLogger("reactor.graphql.operation")

MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_seen_names: set[str] = set()

GRAPHQL_REQUESTS = Counter(
    "reactor_graphql_requests",
    "GraphQL operations by operation name and type (query, mutation, subscription, unknown).",
    ["operation", "type"],
)
GRAPHQL_ERRORS = Counter(
    "reactor_graphql_errors",
    "Errors returned by GraphQL operations, by operation name, type and extensions.code.",
    ["operation", "type", "code"],
)
GRAPHQL_DURATION = Histogram(
    "reactor_graphql_operation_duration_seconds",
    "Queries and mutations from parse to result; subscriptions from start to end.",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "reactor_graphql_active_subscriptions",
    "GraphQL subscriptions streaming now.",
    multiprocess_mode="livesum",
)


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name in _seen_names:
        return name
    if not _NAME.match(name) or len(_seen_names) >= MAX_OPERATION_NAMES:
        return "other"
    _seen_names.add(name)
    return name


def _error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else "INTERNAL_SERVER_ERROR"


class OperationMetrics(SchemaExtension):
    """Counts each operation and its errors; keeps the active-subscription gauge up to date
    while a subscription streams."""

    def _name_and_type(self) -> tuple[str | None, str]:
        context = self.execution_context
        name = context.operation_name
        try:
            kind = context.operation_type.value
        except Exception:  # noqa: BLE001 - no document (a syntax error): the type is unknown
            return name, "unknown"
        return name, kind

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        self._subscribed = False
        try:
            yield
        finally:
            if self._subscribed:
                ACTIVE_SUBSCRIPTIONS.dec()
            self._record(time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        if not self._subscribed and self._name_and_type()[1] == "subscription":
            self._subscribed = True
            ACTIVE_SUBSCRIPTIONS.inc()
        yield

    def _record(self, seconds: float) -> None:
        name, kind = self._name_and_type()
        label = operation_label(name)
        GRAPHQL_REQUESTS.labels(label, kind).inc()
        GRAPHQL_DURATION.labels(kind).observe(seconds)
        result = self.execution_context.result
        errors = (
            (result.errors if result else None) or self.execution_context.pre_execution_errors or []
        )
        codes = [_error_code(e) for e in errors]
        for code in codes:
            GRAPHQL_ERRORS.labels(label, kind, code).inc()
        log.info(
            "graphql %s %s: %s",
            kind,
            label,
            ",".join(codes) or "ok",
            extra={
                "operation": label,
                "operation_type": kind,
                "duration_ms": round(seconds * 1000, 1),
                "error_codes": ",".join(codes),
            },
        )

"""What a GraphQL WebSocket or HTTP stream has in flight, so a shutting-down server can wait
for it or end it.

The view opens a `ConnectionActivity` per WebSocket, keeps it in the connection's ASGI scope
state (where the server's WebSocket protocol finds it) and in a context variable (where
`ConnectionOperations`, a schema extension running in the connection's tasks, finds it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from prometheus_client import Gauge
from strawberry.extensions import SchemaExtension

SCOPE_KEY = "reactor.connection_activity"

WEBSOCKET_CONNECTIONS = Gauge(
    "reactor_websocket_connections",
    "GraphQL WebSocket connections open now.",
    multiprocess_mode="livesum",
)

HTTP_STREAMS = Gauge(
    "reactor_http_streams",
    "GraphQL responses streaming over HTTP now (multipart subscriptions, graphql-sse).",
    multiprocess_mode="livesum",
)


class ConnectionActivity:
    def __init__(self) -> None:
        self.operations = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        self.operations += 1
        self._idle.clear()

    def ended(self) -> None:
        self.operations = max(0, self.operations - 1)
        if self.operations == 0:
            self._idle.set()

    @property
    def busy(self) -> bool:
        return self.operations > 0

    async def wait_idle(self) -> None:
        await self._idle.wait()


CURRENT: ContextVar[ConnectionActivity | None] = ContextVar("reactor_connection", default=None)


def activity_of(scope: dict[str, Any] | None) -> ConnectionActivity | None:
    state = (scope or {}).get("state") or {}
    found = state.get(SCOPE_KEY)
    return found if isinstance(found, ConnectionActivity) else None


class ConnectionOperations(SchemaExtension):
    """Counts an operation on its WebSocket's activity while it runs (a subscription: while it
    streams); nothing over plain HTTP."""

    def on_operation(self) -> Iterator[None]:
        connection = CURRENT.get()
        if connection is not None:
            connection.started()
        try:
            yield
        finally:
            if connection is not None:
                connection.ended()


HTTP_STREAM_KEY = "reactor.http_stream"


class HTTPStream:
    """An operation streamed over one HTTP response (multipart or graphql-sse), told when
    the server starts shutting down. One that `ends_by_itself` (a chat turn, a query, a
    mutation) runs to its end within the grace period, as on a WebSocket; a subscription that
    lives until its client leaves (conversationEvents) completes at once, so the client sees
    a proper end and reconnects to another server."""

    def __init__(self) -> None:
        self.draining = asyncio.Event()
        self.ends_by_itself = False

    def drain(self) -> None:
        self.draining.set()


def http_stream_of(scope: Mapping[str, Any] | None) -> HTTPStream | None:
    state = (scope or {}).get("state") or {}
    found = state.get(HTTP_STREAM_KEY)
    return found if isinstance(found, HTTPStream) else None

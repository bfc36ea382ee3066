"""Subscriptions streamed over HTTP: Apollo Client's multipart subscriptions and graphql-sse.

Strawberry encodes both; here is what it leaves to the server: a stream that notices its
client leaving while nothing is being sent (the turn then goes on without it, as when a
WebSocket client leaves), and one that ends properly when the server starts shutting down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Mapping
from contextlib import suppress
from typing import Any

from graphql import FieldNode, GraphQLError, OperationType, get_operation_ast, parse
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from app.connections import HTTP_STREAMS

# Subscriptions that end by themselves when their chat turn does: on shutdown they run on
# within the grace period, so the turn finishes in front of its client.
TURN_FIELDS = frozenset({"chat", "regenerate", "resumeChat"})


def ends_by_itself(query: str | None, operation_name: str | None, max_tokens: int) -> bool:
    """Whether the operation ends without its client leaving: a query or a mutation (a
    `sendMessage` turn included), a subscription to chat turns only, and what cannot be
    parsed (it ends at once with its error). A shutdown lets these finish."""
    if not query:
        return True
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return True
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return True
    fields = operation.selection_set.selections
    return all(isinstance(f, FieldNode) and f.name.value in TURN_FIELDS for f in fields)


class SubscriptionStreamResponse(StreamingResponse):
    """Streams a subscription's parts; stops when the client leaves, and when `draining` is
    set ends the body with the transport's own `ending` (multipart's closing boundary, SSE's
    `complete` event) rather than dropping the connection."""

    def __init__(
        self,
        content: AsyncIterable[str],
        headers: Mapping[str, str],
        *,
        ending: str,
        draining: asyncio.Event | None,
    ) -> None:
        super().__init__(content, headers=headers)
        self.ending = ending
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        HTTP_STREAMS.inc()
        try:
            await self._stream(scope, receive, send)
        finally:
            HTTP_STREAMS.dec()

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        streaming = asyncio.ensure_future(self.stream_response(tracked))
        listening = asyncio.ensure_future(self.listen_for_disconnect(receive))
        waiters: set[asyncio.Future[Any]] = {streaming, listening}
        if self.draining is not None:
            waiters.add(asyncio.ensure_future(self.draining.wait()))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            with suppress(asyncio.CancelledError, OSError):
                await streaming
            for waiter in waiters - {streaming}:
                with suppress(asyncio.CancelledError):
                    await waiter
        if streaming in done or listening in done:
            return
        # Draining: the stream was stopped between two parts.
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.ending.encode(), "more_body": False})

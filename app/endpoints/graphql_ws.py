"""The two WebSocket protocols, held to the same rules:

- errors the protocol layer makes itself (e.g. "Subscription limit reached") carry
  `extensions.code` like every other error. Errors from executing an operation have their
  code already (schema/errors.py); a protocol refusal is a limit on what the client asked,
  so it is BAD_USER_INPUT like the other limits;
- a message of the wrong shape (not JSON, not an object, an unknown type, `start` or
  `subscribe` without a payload) closes the socket with 4400, as graphql-transport-ws
  specifies, instead of failing in the handler (which dropped the socket, 1006);
- a socket that sends no `connection_init` within `[server] connection_init_timeout` is
  closed with 4408 on legacy graphql-ws too, which has no such timeout of its own.

On graphql-transport-ws a subscription's text deltas skip the per-event layers
(schema/streaming.py): each is written as its whole `next` frame, the frame Strawberry would
send encoded once per subscription with the text's place left open, so a delta costs one
string escape and a join. The frames are the same bytes (tests/graphql/test_delta_frames.py);
they go out through the same WebSocket send, so backpressure, a closed socket and shutdown
behave as before, and a failed send ends the operation as it would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from json.encoder import encode_basestring_ascii
from typing import Any, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.base import BaseView
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message as TransportMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from resolvers.context import RequestContext
from schema.streaming import DELTA_SINK, SENTINEL

PROTOCOL_ERROR_CODE = "BAD_USER_INPUT"
MALFORMED = 4400
INIT_TIMEOUT = 4408
NEEDS_ID = {"subscribe", "complete", "start", "stop"}
NEEDS_PAYLOAD = {"subscribe", "start"}


def _coded(error: Any) -> Any:
    if not isinstance(error, dict):
        return error
    extensions = error.get("extensions") or {}
    if "code" in extensions:
        return error
    return {**error, "extensions": {**extensions, "code": PROTOCOL_ERROR_CODE}}


def with_codes(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("type") != "error":
        return message
    payload = message.get("payload")
    if isinstance(payload, list):
        return {**message, "payload": [_coded(e) for e in payload]}
    return {**message, "payload": _coded(payload)}


def _optional(value: object, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def malformed(message: object, types: frozenset[str]) -> str | None:
    """Why `message` cannot be handled (the close reason), or None when it can."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Failed to parse message"
    kind = message["type"]
    if kind not in types:
        # A close reason has room for 123 bytes.
        return f"Unknown message type: {kind}".encode()[:123].decode(errors="ignore")
    if kind in NEEDS_ID and not isinstance(message.get("id"), str):
        return "Failed to parse message"
    if kind in NEEDS_PAYLOAD:
        payload = message.get("payload")
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("query"), str)
            and _optional(payload.get("variables"), dict)
            and _optional(payload.get("operationName"), str)
            and _optional(payload.get("extensions"), dict)
        ):
            return "Failed to parse message"
    return None


TRANSPORT_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
LEGACY_TYPES = frozenset({"connection_init", "connection_terminate", "start", "stop"})


class _DeltaFrames:
    """One operation's text deltas, written as whole `next` frames."""

    __slots__ = ("error", "escape", "handler", "operation", "parts")

    def __init__(
        self, handler: TransportWSHandler, operation: Operation[RequestContext, None]
    ) -> None:
        self.handler = handler
        self.operation = operation
        self.parts: list[str] = []
        self.error: Exception | None = None
        # A text as encode_json writes it, quotes included: Strawberry's is json.dumps, whose
        # way with a string is this C function, without an encoder made per call.
        encode = handler.view.encode_json
        default = type(handler.view).encode_json is BaseView.encode_json
        self.escape: Callable[[str], object] = encode_basestring_ascii if default else encode

    def accepts(self, template: dict[str, Any]) -> bool:
        if not isinstance(self.handler.websocket, ASGIWebSocketAdapter):
            return False
        # As Operation.send_next builds it: no errors, and no extension results (no
        # extension of the schema has any).
        encode = self.handler.view.encode_json
        frame = encode({"id": self.operation.id, "type": "next", "payload": {"data": template}})
        marker = encode(SENTINEL)
        if not isinstance(frame, str) or not isinstance(marker, str):
            return False
        marker = marker[1:-1]
        if marker in str(encode(self.operation.id)):
            return False  # the client's operation id holds it: only the text may
        # One part more than the places the text takes; a frame without the text is one part.
        self.parts = frame.split(marker)
        return True

    async def send(self, text: str) -> bool:
        if self.operation.completed:
            return True  # as Operation.send_operation_message: nothing after the end
        escaped = self.escape(text)
        assert isinstance(escaped, str)
        websocket = self.handler.websocket
        assert isinstance(websocket, ASGIWebSocketAdapter)
        try:
            try:
                await websocket.ws.send_text(escaped[1:-1].join(self.parts))
            except WebSocketDisconnect as exc:  # as ASGIWebSocketAdapter.send_json
                raise WebSocketDisconnected from exc
        except Exception as exc:  # noqa: BLE001 - raised by the handler once the stream ends
            self.error = exc
            return False
        return True


class TransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    # Text deltas written as whole frames; off, every event takes Strawberry's path.
    direct_deltas = True

    async def handle_message(self, message: TransportMessage) -> None:
        # Strawberry catches a missing key, not a payload of the wrong type.
        reason = malformed(message, TRANSPORT_TYPES)
        if reason is not None:
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)

    async def send_message(self, message: TransportMessage) -> None:
        coded = with_codes(cast("dict[str, Any]", message))
        await super().send_message(cast("TransportMessage", coded))

    async def _send_result_stream(
        self, operation: Operation[RequestContext, None], result_source: Any
    ) -> None:
        if not self.direct_deltas:
            await super()._send_result_stream(operation, result_source)
            return
        frames = _DeltaFrames(self, operation)
        reset = DELTA_SINK.set(frames)
        try:
            await super()._send_result_stream(operation, result_source)
        finally:
            DELTA_SINK.reset(reset)
        if frames.error is not None:
            # Where the ordinary path's failed send would have raised it.
            raise frames.error


class LegacyWSHandler(BaseGraphQLWSHandler[RequestContext, None]):
    _initialised = False

    async def handle(self) -> None:
        # Strawberry's loop skips what is not JSON and fails on what is not well formed;
        # this one closes on either, and runs the connection_init timeout alongside.
        timeout = asyncio.create_task(self._close_unless_initialised())
        try:
            try:
                async for message in self.websocket.iter_json():
                    reason = malformed(message, LEGACY_TYPES)
                    if reason is not None:
                        await self.websocket.close(code=MALFORMED, reason=reason)
                        break
                    await self.handle_message(cast("OperationMessage", message))
            except NonTextMessageReceived:
                await self.websocket.close(MALFORMED, "WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.websocket.close(MALFORMED, "WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            for task in (timeout, self.keep_alive_task):
                if task is not None:
                    task.cancel()
                    with suppress(BaseException):
                        await task
            await self.cleanup()

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self._initialised:
            await self.websocket.close(INIT_TIMEOUT, "Connection initialisation timeout")

    async def handle_message(self, message: OperationMessage) -> None:
        if message["type"] == "connection_init":
            self._initialised = True
        await super().handle_message(message)

    async def send_message(self, message: OperationMessage) -> None:
        coded = with_codes(cast("dict[str, Any]", message))
        await super().send_message(cast("OperationMessage", coded))

"""The two WebSocket protocols, with one addition: errors the protocol layer makes itself
(e.g. "Subscription limit reached") carry `extensions.code` like every other error.

Errors from executing an operation have their code already (schema/errors.py); a protocol
refusal is a limit on what the client asked, so it is BAD_USER_INPUT like the other limits.
"""

from __future__ import annotations

from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message as TransportMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from resolvers.context import RequestContext

PROTOCOL_ERROR_CODE = "BAD_USER_INPUT"


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


class TransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    async def send_message(self, message: TransportMessage) -> None:
        coded = with_codes(cast("dict[str, Any]", message))
        await super().send_message(cast("TransportMessage", coded))


class LegacyWSHandler(BaseGraphQLWSHandler[RequestContext, None]):
    async def send_message(self, message: OperationMessage) -> None:
        coded = with_codes(cast("dict[str, Any]", message))
        await super().send_message(cast("OperationMessage", coded))

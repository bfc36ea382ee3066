"""A small GraphQL-over-WebSocket client speaking both subprotocols, for driving chat turns."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

CHAT = """
subscription Chat($conversationId: UUID!, $message: String!, $model: String) {
  chat(conversationId: $conversationId, message: $message, model: $model) {
    __typename
    ... on ChatStarted { model replyId userMessage { id role content } }
    ... on TextDelta { text }
    ... on ToolCall { id name arguments }
    ... on ToolResult { id name content }
    ... on ChatCompleted { message { id role content status } usage { promptTokens completionTokens totalTokens } }
  }
}
"""

RESUME = """
subscription Resume($replyId: UUID!) {
  resumeChat(replyId: $replyId) {
    __typename
    ... on TextSnapshot { text }
    ... on TextDelta { text }
    ... on ChatCompleted { message { id content status } }
  }
}
"""

CONVERSATION_EVENTS = """
subscription Events($conversationId: UUID!) {
  conversationEvents(conversationId: $conversationId) {
    __typename
    ... on MessageAdded { message { id role status content } }
    ... on MessageUpdated { message { id role status content } }
    ... on ConversationUpdated { conversation { id title } }
    ... on ConversationDeleted { id }
  }
}
"""


class SubscriptionError(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message") if errors else "error")
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class GraphQLWebSocket:
    def __init__(self, http_url: str, token: str | None, protocol: str = TRANSPORT_WS) -> None:
        self.url = http_url.replace("http://", "ws://") + "/graphql"
        self.token = token
        self.protocol = protocol
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> GraphQLWebSocket:
        self._ws = await connect(self.url, subprotocols=[self.protocol])  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        await self.send({"type": "connection_init", "payload": payload})
        while True:
            message = await self.receive()
            if message["type"] == "connection_ack":
                return self
            if message["type"] == "connection_error":
                raise ConnectionError(message.get("payload"))

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        assert self._ws is not None
        while True:
            message: dict[str, Any] = json.loads(await self._ws.recv())
            if message["type"] not in ("ka", "ping", "pong"):
                return message
            if message["type"] == "ping":
                await self.send({"type": "pong"})

    async def start(self, query: str, variables: dict[str, Any]) -> str:
        op_id = uuid.uuid4().hex
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables}}
        )
        return op_id

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": op_id, "type": kind})

    async def results(self, op_id: str) -> AsyncIterator[dict[str, Any]]:
        """The `data` of each result until the operation completes; errors raise."""
        while True:
            message = await self.receive()
            if message.get("id") != op_id:
                continue
            kind = message["type"]
            if kind in ("next", "data"):
                payload = message["payload"]
                if payload.get("errors"):
                    raise SubscriptionError(payload["errors"])
                yield payload["data"]
            elif kind == "error":
                payload = message["payload"]
                raise SubscriptionError(payload if isinstance(payload, list) else [payload])
            elif kind == "complete":
                return


async def chat_events(
    http_url: str,
    token: str | None,
    variables: dict[str, Any],
    protocol: str = TRANSPORT_WS,
) -> list[dict[str, Any]]:
    """One whole turn over a fresh connection: the `chat` payloads in order."""
    async with GraphQLWebSocket(http_url, token, protocol) as ws:
        op_id = await ws.start(CHAT, variables)
        return [data["chat"] async for data in ws.results(op_id)]

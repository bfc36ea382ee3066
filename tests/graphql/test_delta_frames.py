"""Text deltas written as whole graphql-transport-ws frames (app/endpoints/graphql_ws.py) are
the very bytes Strawberry's own path sends, in the same order with the other events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from starlette.testclient import TestClient
from strawberry.asgi import GraphQL

from app.endpoints.graphql_ws import TransportWSHandler
from schema.chat import ChatEvent, ChatStarted, TextDelta
from schema.streaming import SENTINEL, StreamingExecutor

TEXTS = [
    "Hello",
    ", wor",
    "",
    'quotes " and \\ backslash',
    "\x00\x1f control, \u2028 separators, unicode ✓ 𝄞",
    SENTINEL,
    "</script>",
]


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def chat(self, fail: bool = False) -> AsyncGenerator[ChatEvent, None]:
        yield ChatStarted(user_message=None, model="m", reply_id=None)  # type: ignore[arg-type]
        for n, text in enumerate(TEXTS):
            yield TextDelta(text=text)
            if n == 2:
                yield ChatStarted(user_message=None, model="between", reply_id=None)  # type: ignore[arg-type]
        if fail:
            raise RuntimeError("the source failed")


DOCUMENTS = [
    "subscription { chat { __typename ... on TextDelta { text } } }",
    "subscription { chat { ... on ChatStarted { model } ... on TextDelta { text } } }",
    "subscription { c: chat { ... on TextDelta { t: text again: text } ...F } }"
    " fragment F on ChatStarted { model }",
    "subscription { chat { ...D __typename } } fragment D on TextDelta { text x: __typename }",
    "subscription($x: Boolean!) { chat { __typename ... on TextDelta { text @include(if: $x) } } }",
    "subscription($x: Boolean!) { chat { ... on TextDelta { text @skip(if: $x) } } }",
    "subscription { chat(fail: true) { __typename ... on TextDelta { text } } }",
    "subscription Named { first: chat { __typename ... on TextDelta { text } } }",
]


class OrdinaryHandler(TransportWSHandler):
    direct_deltas = False


def _view(handler: type[TransportWSHandler]) -> GraphQL[Any, Any]:
    schema = strawberry.Schema(
        query=Query,
        subscription=Subscription,
        types=[ChatStarted],
        execution_context_class=StreamingExecutor,
    )

    class View(GraphQL[Any, Any]):
        graphql_transport_ws_handler_class = handler

    return View(schema)


def _frames(handler: type[TransportWSHandler], document: str, operation: str = "op 1") -> list[str]:
    """Every frame of one subscription, as sent, up to its complete."""
    client = TestClient(_view(handler))
    with client.websocket_connect("/", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        payload = {"query": document, "variables": {"x": True}}
        ws.send_json({"id": operation, "type": "subscribe", "payload": payload})
        frames = []
        while True:
            frame = ws.receive_text()
            frames.append(frame)
            if json.loads(frame)["type"] == "complete":
                return frames


@pytest.fixture
def direct_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the direct path sent."""
    sent: list[str] = []
    from app.endpoints import graphql_ws

    original = graphql_ws._DeltaFrames.send

    async def send(self: Any, text: str) -> bool:
        sent.append(text)
        return await original(self, text)

    monkeypatch.setattr(graphql_ws._DeltaFrames, "send", send)
    return sent


@pytest.mark.parametrize("document", DOCUMENTS)
def test_delta_frames_are_the_ordinary_ones(document: str, direct_sends: list[str]) -> None:
    ordinary = _frames(OrdinaryHandler, document)
    assert not direct_sends
    direct = _frames(TransportWSHandler, document)
    assert direct == ordinary
    # The deltas did take the direct path (one that selects no text has a fixed frame).
    assert direct_sends == TEXTS


def test_an_operation_id_holding_the_sentinel_takes_the_ordinary_path(
    direct_sends: list[str],
) -> None:
    operation = f"a{SENTINEL}b"
    direct = _frames(TransportWSHandler, DOCUMENTS[0], operation)
    assert direct == _frames(OrdinaryHandler, DOCUMENTS[0], operation)
    assert json.loads(direct[1])["id"] == operation
    assert not direct_sends


def test_the_deltas_arrive_among_the_other_events_in_order() -> None:
    frames = [json.loads(f) for f in _frames(TransportWSHandler, DOCUMENTS[1])]
    events = [f["payload"]["data"]["chat"] for f in frames if f["type"] == "next"]
    expected: list[dict[str, str]] = [{"model": "m"}]
    for n, text in enumerate(TEXTS):
        expected.append({"text": text})
        if n == 2:
            expected.append({"model": "between"})
    assert events == expected
    assert frames[-1] == {"id": "op 1", "type": "complete"}

"""Text deltas rendered from one execution per subscription equal ordinary execution."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry

from schema.chat import ChatEvent, ChatStarted, TextDelta
from schema.streaming import StreamingExecutor

TEXTS = ["Hello", ", wor", "ld", "", "\x00 and unicode: ✓"]


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def chat(self) -> AsyncGenerator[ChatEvent, None]:
        for text in TEXTS:
            yield TextDelta(text=text)


class CountingExecutor(StreamingExecutor):
    executions = 0

    def execute_operation(self, serially: bool | None = None) -> Any:
        CountingExecutor.executions += 1
        return super().execute_operation(serially)


DOCUMENTS = [
    "subscription { chat { __typename ... on TextDelta { text } } }",
    "subscription { c: chat { ... on TextDelta { t: text again: text } ...F } } fragment F on ChatStarted { model }",
    "subscription($x: Boolean!) { chat { __typename ... on TextDelta { text @include(if: $x) } } }",
    "subscription($x: Boolean!) { chat { ... on TextDelta { text @skip(if: $x) } } }",
]


async def _events(executor: type[Any] | None, document: str) -> list[Any]:
    kwargs = {"execution_context_class": executor} if executor else {}
    schema = strawberry.Schema(
        query=Query, subscription=Subscription, types=[ChatStarted], **kwargs
    )
    results = await schema.subscribe(document, variable_values={"x": True})
    return [(r.data, r.errors) async for r in results]  # type: ignore[union-attr]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_rendered_deltas_equal_executed_ones(document: str) -> None:
    assert await _events(StreamingExecutor, document) == await _events(None, document)


async def test_a_subscription_executes_its_deltas_once() -> None:
    CountingExecutor.executions = 0
    events = await _events(CountingExecutor, DOCUMENTS[0])
    assert [data["chat"]["text"] for data, _ in events] == TEXTS
    assert CountingExecutor.executions == 1

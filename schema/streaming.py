"""Subscription events without re-executing GraphQL for every text delta.

graphql-core executes the subscription's selection set once per event. A `TextDelta` has
one leaf that varies, `text`, so for a given document and variables its response has a
fixed shape: we execute it once per subscription with a sentinel for the text and render
every later delta from that result by putting the text where the sentinel stands. Per delta
that is a small dict copy instead of a full execution, which was the larger part of a
streaming turn's CPU and left reference cycles for the collector (docs/benchmarks.md).

Exact as long as resolving a TextDelta has no effect of its own: its fields are plain
attributes, and no schema extension hooks field resolution. Anything unusual (an error, an
awaitable result) falls back to ordinary execution.

A transport may go further and take the deltas off the per-event path altogether: it sets a
`DeltaSink` in `DELTA_SINK` around the subscription's stream, and each TextDelta the source
yields is handed to the sink with the template instead of passing through graphql-core's
event mapping, Strawberry's result handling and the protocol's message layers
(app/endpoints/graphql_ws.py writes the whole frame). The other events keep the ordinary
path; the stream is pulled one event at a time, so their order on the wire is unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, cast

from graphql import ExecutionResult, OperationType

from schema.chat import TextDelta
from schema.leaf_fields import LeafFieldsExecutor

SENTINEL = "\x00reactor:text-delta\x00"

T = TypeVar("T")


class DeltaSink(Protocol):
    """Where a transport takes a subscription's text deltas itself."""

    def accepts(self, template: dict[str, Any]) -> bool:
        """Whether it can send the deltas of this rendered shape (SENTINEL for the text)."""
        ...

    async def send(self, text: str) -> bool:
        """Send one delta; False when it could not (the sink keeps the error, the stream
        ends)."""
        ...


# Set by a transport around one subscription's stream; the first executor to wrap a source
# takes it.
DELTA_SINK: ContextVar[DeltaSink | None] = ContextVar("reactor_delta_sink", default=None)


def render(template: Any, text: str) -> Any:
    if isinstance(template, dict):
        return {key: render(value, text) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, text) for value in template]
    return text if template == SENTINEL else template


class _RenderedDelta:
    """Stands in for a per-event executor: map_source_to_response_event only calls this."""

    __slots__ = ("template", "text")

    def __init__(self, template: dict[str, Any], text: str) -> None:
        self.template = template
        self.text = text

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return ExecutionResult(data=render(self.template, self.text))


class StreamingExecutor(LeafFieldsExecutor):
    # Set on the subscription's own executor at its first delta: the rendered shape, or
    # False when this document's deltas must be executed every time.
    _delta_template: dict[str, Any] | bool | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if type(payload) is TextDelta:
            if self._delta_template is None:
                self._delta_template = self._probe_delta()
            if isinstance(self._delta_template, dict):
                return _RenderedDelta(self._delta_template, payload.text)
        return super().build_per_event_executor(payload)

    def cancellable_iterable(self, iterable: AsyncIterable[T]) -> AsyncIterable[T]:
        # graphql-core wraps a subscription's source stream here before mapping its events
        # (and a streamed list's items, which no field of ours has).
        sink = DELTA_SINK.get()
        if sink is not None and self.operation.operation == OperationType.SUBSCRIPTION:
            DELTA_SINK.set(None)
            iterable = self._deltas_to(sink, iterable)
        return super().cancellable_iterable(iterable)

    async def _deltas_to(
        self, sink: DeltaSink, source: AsyncIterable[T]
    ) -> AsyncGenerator[T, None]:
        """The source's events, less the TextDeltas the sink took."""
        iterator = source.__aiter__()
        direct: bool | None = None
        try:
            while True:
                try:
                    payload = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                if type(payload) is TextDelta:
                    if direct is None:
                        if self._delta_template is None:
                            self._delta_template = self._probe_delta()
                        template = self._delta_template
                        direct = isinstance(template, dict) and sink.accepts(template)
                    if direct:
                        if not await sink.send(cast("TextDelta", payload).text):
                            return
                        continue
                yield payload
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    def _probe_delta(self) -> dict[str, Any] | bool:
        result = super().build_per_event_executor(TextDelta(text=SENTINEL)).execute_operation(False)
        if self.is_awaitable(result) or not isinstance(result, ExecutionResult):
            # Never awaited: close it so no "coroutine was never awaited" is left behind.
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return False
        if result.errors or not isinstance(result.data, dict):
            return False
        return result.data

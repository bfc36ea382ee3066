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
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult

from schema.chat import TextDelta
from schema.leaf_fields import LeafFieldsExecutor

SENTINEL = "\x00reactor:text-delta\x00"


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

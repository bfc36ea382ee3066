"""What `Gateway.stream` yields, and the `Completion` that `Gateway.complete` builds from it.

A stream is: `Started`, then `TextDelta`s, then assembled `ToolCallEvent`s, an optional
`UsageEvent`, and `Finished` -- or it ends with an `ErrorEvent` at any point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Finish reasons use the OpenAI vocabulary whatever the provider said.
STOP = "stop"
LENGTH = "length"
TOOL_CALLS = "tool_calls"
CONTENT_FILTER = "content_filter"


@dataclass(frozen=True, slots=True)
class Started:
    """The `provider/model` target that serves this turn."""

    target: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """One complete tool call; parallel calls arrive as separate events told apart by index."""

    index: int
    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True, slots=True)
class UsageEvent:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The last event of a failed stream. `message` is safe to show a user; `kind` is one of
    the kinds in `gateway.errors`; `target` is None when no target was reached."""

    message: str
    kind: str
    target: str | None = None


ProviderEvent = TextDelta | ToolCallEvent | UsageEvent | Finished
Event = Started | TextDelta | ToolCallEvent | UsageEvent | Finished | ErrorEvent


@dataclass(frozen=True, slots=True)
class Completion:
    target: str
    text: str
    tool_calls: Sequence[ToolCallEvent]
    usage: UsageEvent | None
    finish_reason: str

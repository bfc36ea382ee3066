"""What a caller asks of the gateway: messages, tools and sampling parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the assistant made, as it appears in the history sent back to a model."""

    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    # Set on role "tool": the id of the call this message answers.
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat turn. `model` is an alias, a `provider/model` target, or None for the default.

    `tool_choice` is "auto", "none", "required" or {"type": "function", "function": {"name"}}.
    `extra` is passed as-is to OpenAI-compatible providers only (e.g. `response_format`).
    """

    messages: Sequence[Message]
    model: str | None = None
    tools: Sequence[ToolSpec] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: Sequence[str] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

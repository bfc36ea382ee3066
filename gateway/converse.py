"""The Bedrock Converse format: request bodies, and ConverseStream events to our events."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import (
    INVALID_REQUEST,
    RATE_LIMITED,
    TIMEOUT,
    TRUNCATED,
    UNAVAILABLE,
    UPSTREAM,
    ProviderError,
)
from gateway.events import (
    CONTENT_FILTER,
    LENGTH,
    STOP,
    TOOL_CALLS,
    Finished,
    ProviderEvent,
    TextDelta,
    UsageEvent,
)
from gateway.request import ChatRequest, Message, ToolSpec
from gateway.tool_calls import ToolCallAssembler

_NOTHING: tuple[ProviderEvent, ...] = ()
_STOP_REASONS = {
    "end_turn": STOP,
    "stop_sequence": STOP,
    "max_tokens": LENGTH,
    "tool_use": TOOL_CALLS,
    "content_filtered": CONTENT_FILTER,
    "guardrail_intervened": CONTENT_FILTER,
}
# In-stream exception types and how the router should treat them.
_EXCEPTIONS = {
    "throttlingException": (RATE_LIMITED, True),
    "serviceUnavailableException": (UNAVAILABLE, True),
    "internalServerException": (UNAVAILABLE, True),
    "modelStreamErrorException": (UNAVAILABLE, True),
    "modelTimeoutException": (TIMEOUT, True),
    "validationException": (INVALID_REQUEST, False),
}


def _content(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "toolResult": {
                    "toolUseId": message.tool_call_id or "",
                    "content": [{"text": message.content or ""}],
                }
            }
        ]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"text": message.content})
    for call in message.tool_calls:
        try:
            arguments = json.loads(call.arguments_json or "{}")
        except ValueError:
            arguments = {}
        blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}})
    return blocks


def _tool_choice(choice: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, Mapping):
        return {"tool": {"name": choice.get("function", {}).get("name", "")}}
    if choice == "auto":
        return {"auto": {}}
    return None


def request_body(request: ChatRequest) -> dict[str, Any]:
    system = [{"text": m.content} for m in request.messages if m.role == "system" and m.content]
    # Converse wants alternating roles, with tool results inside a user turn.
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _content(message)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference = {
        "maxTokens": request.max_tokens,
        "temperature": request.temperature,
        "topP": request.top_p,
        "stopSequences": list(request.stop) or None,
    }
    inference = {k: v for k, v in inference.items() if v is not None}
    if inference:
        body["inferenceConfig"] = inference
    if request.tools and request.tool_choice != "none":
        tool_config: dict[str, Any] = {"tools": _tool_specs(request.tools)}
        choice = _tool_choice(request.tool_choice)
        if choice is not None:
            tool_config["toolChoice"] = choice
        body["toolConfig"] = tool_config
    else:
        # Converse refuses toolUse and toolResult blocks without a toolConfig, and has no
        # "none" choice: with such a history the tools are declared anyway (or, when the
        # request names none, the ones the history used), with no choice.
        used = _tools_used(request.messages)
        if used:
            tools = request.tools or [ToolSpec(name, name, {"type": "object"}) for name in used]
            body["toolConfig"] = {"tools": _tool_specs(tools)}
    return body


def _tool_specs(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "toolSpec": {
                "name": tool.name,
                "description": tool.description or tool.name,
                "inputSchema": {"json": dict(tool.parameters)},
            }
        }
        for tool in tools
    ]


def _tools_used(messages: Sequence[Message]) -> list[str]:
    """The names of the tools a history called, in order of first call."""
    names = [call.name for m in messages for call in m.tool_calls]
    names += [m.name for m in messages if m.role == "tool" and m.name]
    return list(dict.fromkeys(names))


class ConverseStreamReader:
    """Reads decoded event-stream messages (headers and JSON payload)."""

    __slots__ = ("_blocks", "_finish", "_tools", "_usage")

    def __init__(self) -> None:
        self._finish: str | None = None
        self._tools = ToolCallAssembler()
        # contentBlockIndex of each toolUse block, to the tool call's position.
        self._blocks: dict[int, int] = {}
        self._usage: UsageEvent | None = None

    def feed(self, headers: Mapping[str, Any], payload: bytes) -> tuple[ProviderEvent, ...]:
        message_type = headers.get(":message-type")
        if message_type != "event":
            if message_type == "exception":
                name = str(headers.get(":exception-type", ""))
                kind, retryable = _EXCEPTIONS.get(name, (UPSTREAM, False))
                raise ProviderError(kind, f"{name[:60]} in stream", retryable=retryable)
            raise ProviderError(UPSTREAM, f"{str(headers.get(':error-code', ''))[:60]} in stream")
        event_type = headers.get(":event-type")
        if event_type == "contentBlockDelta":
            body = json.loads(payload)
            delta = body.get("delta") or {}
            text = delta.get("text")
            if text:
                return (TextDelta(text),)
            tool = delta.get("toolUse")
            if tool is not None:
                position = self._blocks.get(body.get("contentBlockIndex", 0))
                if position is not None:
                    self._tools.add(position, None, None, tool.get("input"))
        elif event_type == "contentBlockStart":
            body = json.loads(payload)
            tool = (body.get("start") or {}).get("toolUse")
            if tool is not None:
                position = len(self._blocks)
                self._blocks[body.get("contentBlockIndex", position)] = position
                self._tools.add(position, tool.get("toolUseId"), tool.get("name"), None)
        elif event_type == "messageStop":
            reason = json.loads(payload).get("stopReason") or "end_turn"
            self._finish = _STOP_REASONS.get(reason, STOP)
        elif event_type == "metadata":
            usage = json.loads(payload).get("usage") or {}
            self._usage = UsageEvent(
                prompt_tokens=usage.get("inputTokens") or 0,
                completion_tokens=usage.get("outputTokens") or 0,
                total_tokens=usage.get("totalTokens") or 0,
            )
        return _NOTHING

    def finish(self) -> list[ProviderEvent]:
        if self._finish is None:
            raise ProviderError(TRUNCATED, "stream ended before messageStop")
        events: list[ProviderEvent] = []
        events.extend(self._tools.events())
        if self._usage is not None:
            events.append(self._usage)
        events.append(Finished(TOOL_CALLS if self._tools else self._finish))
        return events

"""The OpenAI Chat Completions wire format of our own HTTP surface: request bodies to
`ChatRequest`, events to `chat.completion.chunk`s, a whole `chat.completion`, and `/models`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.events import (
    Completion,
    ErrorEvent,
    Event,
    Finished,
    Started,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from gateway.request import ChatRequest, Message, ToolCall, ToolSpec
from gateway.router import AliasInfo


class InvalidRequest(ValueError):
    """A request body does not follow the Chat Completions format; the message says why."""


class _Function(BaseModel):
    name: str
    arguments: str = ""


class _ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: _Function


class _TextPart(BaseModel):
    type: Literal["text"]
    text: str


class _Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_TextPart] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class _FunctionDef(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class _Tool(BaseModel):
    type: Literal["function"]
    function: _FunctionDef


class _StreamOptions(BaseModel):
    include_usage: bool = False


class _Body(BaseModel):
    # Parameters we do not support are ignored, as OpenAI-compatible servers commonly do.
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    stream_options: _StreamOptions | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    n: Literal[1] | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ParsedChatRequest:
    request: ChatRequest
    stream: bool
    include_usage: bool


def _content(content: str | list[_TextPart] | None) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def _describe(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:3]
    ]
    return "Invalid request: " + "; ".join(problems)


def parse_chat_request(body: object) -> ParsedChatRequest:
    """Validate a decoded JSON body; raises `InvalidRequest` saying what is wrong."""
    try:
        parsed = _Body.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None
    messages = [
        Message(
            role="system" if m.role == "developer" else m.role,
            content=_content(m.content),
            tool_calls=tuple(
                ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ()
            ),
            tool_call_id=m.tool_call_id,
            name=m.name,
        )
        for m in parsed.messages
    ]
    for n, message in enumerate(messages):
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequest(
                f"Invalid request: messages.{n}: a tool message needs tool_call_id"
            )
    limits = {parsed.max_tokens, parsed.max_completion_tokens} - {None}
    if len(limits) > 1:
        # Either could be the one a limit was checked against; refuse rather than guess.
        raise InvalidRequest(
            "Invalid request: max_tokens and max_completion_tokens differ; give one of them"
        )
    stop = [parsed.stop] if isinstance(parsed.stop, str) else parsed.stop or []
    request = ChatRequest(
        messages=messages,
        model=parsed.model,
        tools=tuple(
            ToolSpec(t.function.name, t.function.description, t.function.parameters)
            for t in parsed.tools or ()
        ),
        temperature=parsed.temperature,
        max_tokens=parsed.max_completion_tokens or parsed.max_tokens,
        top_p=parsed.top_p,
        stop=stop,
        seed=parsed.seed,
        presence_penalty=parsed.presence_penalty,
        frequency_penalty=parsed.frequency_penalty,
        tool_choice=parsed.tool_choice,
        parallel_tool_calls=parsed.parallel_tool_calls,
        user=parsed.user,
        extra={"response_format": parsed.response_format} if parsed.response_format else {},
    )
    include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
    return ParsedChatRequest(request, parsed.stream, include_usage)


def _usage(usage: UsageEvent) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _tool_call(call: ToolCallEvent) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments_json},
    }


def error_body(
    message: str,
    type: str = "invalid_request_error",  # noqa: A002 - the field OpenAI names `type`
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class ChunkEncoder:
    """Events to `chat.completion.chunk` objects; the usage chunk (empty `choices`) follows
    the finish chunk, as OpenAI sends it, when `include_usage` was asked for."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self._include_usage = include_usage
        self._usage: UsageEvent | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def encode(self, event: Event) -> list[dict[str, Any]]:
        if isinstance(event, TextDelta):
            return [self._chunk({"content": event.text})]
        if isinstance(event, Started):
            self.model = event.target
            return [self._chunk({"role": "assistant", "content": ""})]
        if isinstance(event, ToolCallEvent):
            return [self._chunk({"tool_calls": [{"index": event.index, **_tool_call(event)}]})]
        if isinstance(event, UsageEvent):
            self._usage = event
            return []
        if isinstance(event, Finished):
            chunks = [self._chunk({}, event.reason)]
            if self._include_usage and self._usage is not None:
                usage_chunk = self._chunk({})
                usage_chunk["choices"] = []
                usage_chunk["usage"] = _usage(self._usage)
                chunks.append(usage_chunk)
            return chunks
        # An error event, as OpenRouter sends it; the openai SDK raises APIError on it.
        return [error_body(event.message, event.kind)]


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


class _TextChunks:
    """A text delta's SSE event, serialised once per stream: the chunk around the text is the
    same for every delta, so only the text is encoded per delta. Byte for byte what `_sse`
    makes of the encoder's chunk (tested)."""

    _MARK = "\x00text\x00"

    def __init__(self, encoder: ChunkEncoder) -> None:
        template = _sse(encoder._chunk({"content": self._MARK}))
        self.head, _, self.tail = template.partition(json.dumps(self._MARK).encode())

    def event(self, text: str) -> bytes:
        return self.head + json.dumps(text).encode() + self.tail


_DONE = b"data: [DONE]\n\n"


async def sse_stream(
    events: AsyncIterator[Event], model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """The body of a streaming response: `data: {chunk}` events, then `data: [DONE]`.

    What is already in hand goes out in one write: the role chunk with the first delta
    (a gateway stream's `Started` comes with its first event read), and the finish and usage
    chunks with `[DONE]` (`Finished` and `ErrorEvent` end a stream). No chunk waits for
    anything not yet read but the last: `[DONE]` waits for the call's end, which runs as the
    rest of `events` is drained."""
    encoder = ChunkEncoder(model, include_usage)
    text = _TextChunks(encoder)
    held = b""
    async for event in events:
        if type(event) is TextDelta:
            yield held + text.event(event.text)  # b"" + x is x itself: no copy
            held = b""
            continue
        out = held + b"".join(_sse(chunk) for chunk in encoder.encode(event))
        held = b""
        if isinstance(event, Started):
            # The chunks name the target from here on.
            text = _TextChunks(encoder)
            held = out
        elif isinstance(event, Finished | ErrorEvent):
            # The rest of `events` ends the call (its turn given back) before `[DONE]`: a
            # client may send its next call the moment it reads it, to any process.
            async for _ in events:
                pass
            yield out + _DONE
            return
        elif out:
            yield out
    yield held + _DONE


def completion_body(completion: Completion) -> dict[str, Any]:
    """A whole non-streaming `chat.completion` response."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text or None}
    if completion.tool_calls:
        message["tool_calls"] = [_tool_call(c) for c in completion.tool_calls]
    body: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.target,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": completion.finish_reason,
                "logprobs": None,
            }
        ],
    }
    if completion.usage is not None:
        body["usage"] = _usage(completion.usage)
    return body


def models_body(aliases: Sequence[AliasInfo]) -> dict[str, Any]:
    """The `/models` list: the aliases, which are what clients should name."""
    return {
        "object": "list",
        "data": [
            {"id": a.name, "object": "model", "created": 0, "owned_by": "reactor-chat"}
            for a in aliases
        ],
    }

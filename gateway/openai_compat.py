"""Providers that speak OpenAI Chat Completions: OpenRouter, Ollama, vLLM, OpenAI itself."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import httpx

from gateway.aiohttp_transport import direct_post
from gateway.errors import (
    CONNECTION,
    RATE_LIMITED,
    TIMEOUT,
    TRUNCATED,
    UNAVAILABLE,
    UPSTREAM,
    ProviderError,
    error_for_status,
)
from gateway.events import (
    TOOL_CALLS,
    Finished,
    ProviderEvent,
    TextDelta,
    UsageEvent,
)
from gateway.request import ChatRequest, Message
from gateway.retry import parse_retry_after
from gateway.sse import SSEParser
from gateway.tool_calls import ToolCallAssembler

_NOTHING: tuple[ProviderEvent, ...] = ()
_FINISH_REASONS = {"function_call": TOOL_CALLS, "eos": "stop", "end_turn": "stop"}


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def request_body(model: str, request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in request.tools
        ]
    optional = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "top_p": request.top_p,
        "stop": list(request.stop) or None,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "tool_choice": request.tool_choice,
        "parallel_tool_calls": request.parallel_tool_calls,
        "user": request.user,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    body.update(request.extra)
    return body


def _midstream_error(error: object) -> ProviderError:
    """An `{"error": ...}` event: OpenRouter sends these when the model fails mid-answer."""
    code: object = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) else None
    if status is not None and 400 <= status < 600:
        # Classified as the same status would be in the response head, so a request the
        # provider refuses in-stream does not count against the target either.
        classified = error_for_status(status, "", None)
        return ProviderError(
            classified.kind,
            f"error event in stream (code {status})",
            status=status,
            retryable=classified.retryable,
        )
    if code == "rate_limit_exceeded":
        kind = RATE_LIMITED
    elif code == "server_error":
        kind = UNAVAILABLE
    else:
        kind = UPSTREAM
    return ProviderError(
        kind,
        f"error event in stream (code {str(code)[:40]})",
        retryable=kind != UPSTREAM,
    )


class ChunkReader:
    """Turns `chat.completion.chunk` payloads into events; tool calls, usage and the finish
    reason are held back and given by `finish()`, so every stream ends the same way."""

    __slots__ = ("_done", "_finish", "_tools", "_usage")

    def __init__(self) -> None:
        self._done = False
        self._finish: str | None = None
        self._tools = ToolCallAssembler()
        self._usage: UsageEvent | None = None

    def feed(self, data: str) -> tuple[ProviderEvent, ...]:
        if data == "[DONE]":
            self._done = True
            return _NOTHING
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ProviderError(UPSTREAM, "malformed JSON in stream") from None
        if not isinstance(chunk, dict):
            return _NOTHING
        error = chunk.get("error")
        if error:
            raise _midstream_error(error)
        usage = chunk.get("usage")
        if usage:
            self._usage = UsageEvent(
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=usage.get("completion_tokens") or 0,
                total_tokens=usage.get("total_tokens") or 0,
            )
        choices = chunk.get("choices")
        if not choices:
            return _NOTHING
        choice = choices[0]
        reason = choice.get("finish_reason")
        if reason:
            self._finish = reason
        delta = choice.get("delta")
        if not delta:
            return _NOTHING
        calls = delta.get("tool_calls")
        if calls:
            for position, call in enumerate(calls):
                function = call.get("function") or {}
                self._tools.add(
                    call.get("index", position),
                    call.get("id"),
                    function.get("name"),
                    function.get("arguments"),
                )
        content = delta.get("content")
        if content:
            return (TextDelta(content),)
        return _NOTHING

    def finish(self) -> list[ProviderEvent]:
        """The closing events; raises when the stream was cut before its end."""
        if self._finish is None and not self._done:
            raise ProviderError(TRUNCATED, "stream ended before a finish reason")
        events: list[ProviderEvent] = []
        events.extend(self._tools.events())
        if self._usage is not None:
            events.append(self._usage)
        reason = _FINISH_REASONS.get(self._finish or "stop", self._finish or "stop")
        events.append(Finished(TOOL_CALLS if self._tools else reason))
        return events


def _error_detail(body: bytes) -> str:
    """The upstream error's code or type only: messages can quote the key that was sent."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return ""
    return str(error.get("code") or error.get("type") or "")[:60]


def transport_error(exc: httpx.TransportError) -> ProviderError:
    """Map httpx's failures; connecting is retried, a stalled stream is not."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        return ProviderError(CONNECTION, type(exc).__name__, retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(TIMEOUT, type(exc).__name__)
    return ProviderError(CONNECTION, type(exc).__name__, retryable=True)


class _Response(Protocol):
    """What `stream` reads of a response: httpx's, or the direct path's."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def aread(self) -> bytes: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class OpenAICompatProvider:
    def __init__(
        self,
        name: str,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        timeout: httpx.Timeout,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._timeout = timeout
        self._headers = {"Accept": "text/event-stream", **(extra_headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # The same request without httpx's per-request work, where nothing of it applies.
        self._direct = direct_post(http, self._url, self._headers, timeout)

    def _post(self, body: dict[str, Any]) -> AbstractAsyncContextManager[_Response]:
        if self._direct is not None:
            # Encoded as httpx encodes `json=` (compact, ASCII-safe, UTF-8).
            return self._direct.stream(_encode(body))
        return self._http.stream(
            "POST", self._url, json=body, headers=self._headers, timeout=self._timeout
        )

    async def stream(self, model: str, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        body = request_body(model, request)
        try:
            async with self._post(body) as response:
                if response.status_code != 200:
                    detail = _error_detail(await response.aread())
                    raise error_for_status(
                        response.status_code, detail, parse_retry_after(response.headers)
                    )
                parser = SSEParser()
                reader = ChunkReader()
                async for chunk in response.aiter_bytes():
                    for data in parser.feed(chunk):
                        for event in reader.feed(data):
                            yield event
                for data in parser.flush():
                    for event in reader.feed(data):
                        yield event
                for event in reader.finish():
                    yield event
        except httpx.TransportError as exc:
            raise transport_error(exc) from None

"""The `local/echo` provider: offline and deterministic, so the product works with no network.

Rules, applied to the last message:
- a tool result (role "tool"): replies "Tool result: <its content>";
- a user message `/search X` or `... search [products] for X`, when an offered tool takes
  a `query` argument (a `query` property in its JSON Schema `parameters`): calls the first
  such tool, in the request's order, with `{"query": "X"}`;
- otherwise: replies "Echo: <the message>".
The reply streams word by word, `local_delay_ms` apart; usage counts words.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Mapping, Sequence

from gateway.events import (
    LENGTH,
    STOP,
    TOOL_CALLS,
    Finished,
    ProviderEvent,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from gateway.request import ChatRequest, ToolSpec

_SEARCH = re.compile(r"(?:^\s*/search\s+|\bsearch\s+(?:products\s+)?for\s+)(.+)", re.I | re.S)
_WORDS = re.compile(r"\s*\S+")


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def search_query(text: str) -> str | None:
    """The X of `/search X` or `search [products] for X`, without trailing punctuation."""
    match = _SEARCH.search(text)
    if match is None:
        return None
    return match.group(1).strip().rstrip("?.!").strip() or None


def _query_tool(tools: Sequence[ToolSpec]) -> str | None:
    """The name of the first tool that takes a `query` argument, if any."""
    for tool in tools:
        properties = tool.parameters.get("properties")
        if isinstance(properties, Mapping) and "query" in properties:
            return tool.name
    return None


class LocalProvider:
    def __init__(self, delay_ms: int) -> None:
        self.name = "local"
        self._delay = delay_ms / 1000

    async def stream(self, model: str, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        prompt_tokens = sum(_words(m.content) for m in request.messages)
        last = request.messages[-1] if request.messages else None
        content = (last.content or "") if last else ""
        if last is not None and last.role == "tool":
            reply = f"Tool result: {content}"
        else:
            query = search_query(content) if last is not None and last.role == "user" else None
            tool = _query_tool(request.tools) if query is not None else None
            if tool is not None:
                yield ToolCallEvent(
                    index=0,
                    id=f"call_local_{len(request.messages)}",
                    name=tool,
                    arguments_json=json.dumps({"query": query}),
                )
                yield UsageEvent(prompt_tokens, 1, prompt_tokens + 1)
                yield Finished(TOOL_CALLS)
                return
            reply = f"Echo: {content}"
        limit = request.max_tokens
        sent = 0
        reason = STOP
        for word in _WORDS.findall(reply):
            if limit is not None and sent >= limit:
                reason = LENGTH
                break
            if sent and self._delay:
                await asyncio.sleep(self._delay)
            yield TextDelta(word)
            sent += 1
        yield UsageEvent(prompt_tokens, sent, prompt_tokens + sent)
        yield Finished(reason)

"""The reply a turn is writing: what it has produced so far, told to it event by event
(`on_started`, `on_delta`, `on_usage`, …), and the saves that turn it into messages.

Every save is shielded from cancellation (the turn registry's `shielded`): a save that has
begun always ends, even when the client that started the turn has gone.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from db import messages as message_queries
from db.records import MessageRow
from gateway.events import ToolCallEvent, UsageEvent
from gateway.request import ToolCall
from resolvers.chat.events import Usage
from resolvers.chat.history import tool_calls_metadata
from resolvers.context import RequestContext
from resolvers.metrics import CHAT_TIME_TO_FIRST_TOKEN

SavedRow = tuple[str, str, dict[str, Any]]  # role, content, metadata


class Reply:
    def __init__(self, ctx: RequestContext, conversation_id: UUID, target: str) -> None:
        self.ctx = ctx
        self.conversation_id = conversation_id
        # The provider/model target serving the turn: the route's first until one answers.
        self.target = target
        # Text of the current round not yet saved.
        self._parts: list[str] = []
        self.usage: Usage | None = None
        self.tool_rounds = 0
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self.began = loop.time()
        self.first_delta: float | None = None

    @property
    def elapsed(self) -> float:
        return self._clock() - self.began

    def on_started(self, target: str) -> None:
        self.target = target

    def on_delta(self, text: str) -> None:
        if self.first_delta is None:
            self.first_delta = self._clock()
            CHAT_TIME_TO_FIRST_TOKEN.labels(target=self.target).observe(
                self.first_delta - self.began
            )
        self._parts.append(text)

    def on_usage(self, event: UsageEvent) -> None:
        usage = Usage(event.prompt_tokens, event.completion_tokens, event.total_tokens)
        self.usage = usage if self.usage is None else self.usage + usage

    def _metadata(self, **extra: Any) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "target": self.target,
            "latency_ms": round(self.elapsed * 1000, 1),
            "usage": None if self.usage is None else self.usage.as_dict(),
        }
        if self.first_delta is not None:
            metadata["time_to_first_token_ms"] = round((self.first_delta - self.began) * 1000, 1)
        if self.tool_rounds:
            metadata["tool_rounds"] = self.tool_rounds
        metadata.update(extra)
        return metadata

    def _take_text(self) -> str:
        # Taken before the save is awaited: a save under way already owns this text.
        text = "".join(self._parts)
        self._parts.clear()
        return text

    async def _insert(self, rows: list[SavedRow]) -> list[MessageRow]:
        saved = []
        async with self.ctx.db() as conn:
            for role, content, metadata in rows:
                saved.append(
                    await message_queries.add(conn, self.conversation_id, role, content, metadata)
                )
        return saved

    async def _save(self, rows: list[SavedRow]) -> list[MessageRow]:
        return await self.ctx.services.turns.shielded(self._insert(rows))

    async def save_tool_round(
        self, calls: list[ToolCallEvent], results: list[str]
    ) -> tuple[str, list[ToolCall]]:
        """The round's text and calls as an assistant message, each result as a tool message;
        returns the text and the calls as the next round's history replays them."""
        self.tool_rounds += 1
        text = self._take_text()
        made = [ToolCall(c.id, c.name, c.arguments_json) for c in calls]
        metadata = self._metadata(finish_reason="tool_calls", tool_calls=tool_calls_metadata(made))
        rows: list[SavedRow] = [("assistant", text, metadata)]
        rows += [
            ("tool", result, {"tool_call_id": c.id, "name": c.name})
            for c, result in zip(calls, results, strict=True)
        ]
        await self._save(rows)
        return text, made

    async def save_reply(self, finish_reason: str) -> MessageRow:
        text = self._take_text()
        saved = await self._save([("assistant", text, self._metadata(finish_reason=finish_reason))])
        return saved[0]

    async def save_partial(self, reason: str, error: str | None = None) -> None:
        """The reply so far, marked incomplete; nothing when no text came."""
        text = self._take_text()
        if not text:
            return
        extra: dict[str, Any] = {"incomplete": True, "reason": reason}
        if error is not None:
            extra["error"] = error
        await self._save([("assistant", text, self._metadata(**extra))])

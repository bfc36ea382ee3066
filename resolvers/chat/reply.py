"""The reply a turn is writing: a row created `streaming` when the turn opened, told each event
(`on_started`, `on_delta`, `on_usage`), checkpointed as it grows and saved once at the end.

- Text PostgreSQL cannot store (NUL, a lone surrogate) is replaced with U+FFFD before it is
  both sent and saved, so the deltas joined always equal the saved reply.
- A checkpoint writes the text so far at most every `[chat] checkpoint_interval` seconds, with
  every other reply of this process in one statement (`resolvers/chat/checkpoints.py`), in a
  task of its own: the stream never waits for it. A crash loses at most that much text.
- The final save keeps the text until it has committed: transient database errors (a dropped
  connection, a restarting server) are retried with backoff for `FINAL_SAVE_SECONDS`. If every
  try fails the turn is logged by its reply id, never its text, and the last checkpoint stands.
- Every save is shielded from cancellation (the turn registry's `shielded`): a save that has
  begun always ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from uuid import UUID

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from db import messages as message_queries
from db import turns as turn_queries
from db.records import MessageRow
from gateway.events import ToolCallEvent, UsageEvent
from gateway.request import ToolCall
from resolvers.chat.events import Usage
from resolvers.chat.history import tool_calls_metadata
from resolvers.context import RequestContext
from resolvers.metrics import CHAT_TIME_TO_FIRST_TOKEN

log = logging.getLogger("reactor.chat")

SavedRow = tuple[str, str, dict[str, Any]]  # role, content, metadata
FINAL_SAVE_SECONDS = 30.0
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as PostgreSQL can store it: NUL and lone surrogates become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


def _transient(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (OperationalError, InterfaceError, OSError))


class Reply:
    def __init__(
        self,
        ctx: RequestContext,
        conversation_id: UUID,
        reply_id: UUID,
        target: str,
        parent_id: UUID | None = None,
    ) -> None:
        self.ctx = ctx
        self.conversation_id = conversation_id
        self.reply_id = reply_id
        # The message the turn's next saved message follows: its user message, then each tool
        # round's last message; the reply takes the last one as its parent at its final save.
        self.tail = parent_id
        # The provider/model target serving the turn: the route's first until one answers.
        self.target = target
        self._parts: list[str] = []
        self.length = 0
        self.usage: Usage | None = None
        self.tool_rounds = 0
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self.began = loop.time()
        self.first_delta: float | None = None
        self.user_id = ctx.user_id()
        # The length of the text the last checkpoint wrote (set by `Checkpoints`).
        self.checkpointed = 0
        self._checkpoints = ctx.services.checkpoints

    @property
    def elapsed(self) -> float:
        return self._clock() - self.began

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def on_started(self, target: str) -> None:
        self.target = target

    def on_delta(self, text: str) -> str:
        """Take a delta; returns it as it is sent and saved."""
        text = storable(text)
        if self.first_delta is None:
            now = self._clock()
            self.first_delta = now
            CHAT_TIME_TO_FIRST_TOKEN.labels(target=self.target).observe(now - self.began)
            self._checkpoints.add(self)
        self._parts.append(text)
        self.length += len(text)
        return text

    def stop_checkpoints(self) -> None:
        """No more checkpoints: the reply is being saved, or was never opened."""
        self._checkpoints.discard(self)

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

    async def _insert(self, rows: list[SavedRow]) -> list[MessageRow]:
        saved = []
        async with self.ctx.db() as conn:
            tail = self.tail
            for role, content, metadata in rows:
                row = await message_queries.add(
                    conn, self.conversation_id, role, content, metadata, parent_id=tail
                )
                saved.append(row)
                tail = row.id
        self.tail = tail
        return saved

    async def save_tool_round(
        self, calls: list[ToolCallEvent], results: list[str]
    ) -> list[ToolCall]:
        """The calls as an assistant message and each result as a tool message. The round's
        text stays in the reply, which moves after them when it is saved."""
        self.tool_rounds += 1
        made = [ToolCall(c.id, c.name, c.arguments_json) for c in calls]
        metadata = self._metadata(finish_reason="tool_calls", tool_calls=tool_calls_metadata(made))
        rows: list[SavedRow] = [("assistant", "", metadata)]
        rows += [
            ("tool", result, {"tool_call_id": c.id, "name": c.name})
            for c, result in zip(calls, results, strict=True)
        ]
        await self.ctx.services.turns.shielded(self._insert(rows))
        return made

    async def finish(self, status: str, finish_reason: str, **extra: Any) -> MessageRow | None:
        """The reply saved as it ended; None when it could not be (its conversation is gone,
        or the database stayed unreachable)."""
        return await self.ctx.services.turns.shielded(self._finish(status, finish_reason, extra))

    async def _finish(
        self, status: str, finish_reason: str, extra: dict[str, Any]
    ) -> MessageRow | None:
        self.stop_checkpoints()
        text = self.text
        if status == turn_queries.INCOMPLETE:
            extra = {"incomplete": True, "reason": finish_reason, **extra}
        metadata = self._metadata(finish_reason=finish_reason, **extra)
        end = self._clock() + FINAL_SAVE_SECONDS
        delay = 0.05
        while True:
            try:
                async with self.ctx.db() as conn:
                    return await turn_queries.finish(
                        conn,
                        self.reply_id,
                        content=text,
                        status=status,
                        metadata=metadata,
                        move_last=self.tool_rounds > 0,
                        parent_id=self.tail,
                    )
            except Exception as exc:  # noqa: BLE001 - transient ones retried, others end here
                if not _transient(exc) or self._clock() + delay > end:
                    log.error(
                        "chat turn %s: the final save failed (%s); the last checkpoint stands",
                        self.reply_id,
                        type(exc).__name__,
                    )
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

"""One chat turn: save the user message under the hourly limit, stream the model's reply,
run the tools it calls, save the reply. Nothing is lost on the way out: a client leaving,
a cancelled task or a failing provider still leaves the user message and any partial reply
saved (marked `incomplete`).

No transaction is open while the model streams; every save is shielded from cancellation, so
a save that has begun always ends. The user message's commit runs while the model's request
starts (a commit waits for PostgreSQL's WAL flush); nothing is emitted until it has ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any
from uuid import UUID

from db import messages as message_queries
from db.errors import ConversationNotFound
from db.records import MessageRow
from gateway.errors import UnknownModel
from gateway.events import ErrorEvent, Finished, Started, TextDelta, ToolCallEvent, UsageEvent
from gateway.request import ChatRequest, Message, ToolCall
from gateway.router import Route
from resolvers.chat import message_limits, tools
from resolvers.chat.events import (
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnStarted,
    TurnToolCall,
    TurnToolResult,
)
from resolvers.chat.history import to_messages, tool_calls_metadata
from resolvers.context import RequestContext
from resolvers.errors import AppError, BadUserInput, NotFound, UpstreamError
from resolvers.metrics import (
    CHAT_STREAMING_TURNS,
    CHAT_TIME_TO_FIRST_TOKEN,
    CHAT_TURN_DURATION,
    CHAT_TURNS,
)

log = logging.getLogger("reactor.chat")


def clean_message(message: str, max_chars: int) -> str:
    if not message.strip():
        raise BadUserInput("A message cannot be empty.", argument="message")
    if len(message) > max_chars:
        raise BadUserInput(f"A message has at most {max_chars} characters.", argument="message")
    if "\x00" in message:
        raise BadUserInput("A message cannot contain NUL characters.", argument="message")
    return message


def resolve_model(ctx: RequestContext, model: str | None) -> Route:
    try:
        return ctx.services.gateway.resolve(model)
    except UnknownModel as exc:
        raise BadUserInput(str(exc), argument="model") from None


async def _open_turn(
    ctx: RequestContext, conversation_id: UUID, text: str
) -> tuple[MessageRow, list[MessageRow], asyncio.Task[None]]:
    """One short transaction, one statement after the identity: the conversation checked, the
    message admitted under the hourly limit and saved, the history the model will see read
    (the new message is its newest entry). Returned with its commit still running."""
    chat = ctx.services.chat
    tx = ctx.transaction()
    with message_limits.enforced(chat.max_messages_per_hour):
        try:
            conn = await tx.start()
            history = await message_queries.open_turn(
                conn,
                conversation_id,
                text,
                per_hour=chat.max_messages_per_hour,
                history_limit=chat.history_limit,
            )
        except BaseException as exc:
            # Rolled back; the exception goes on (a refusal as RATE_LIMITED).
            await tx.rollback()
            if isinstance(exc, ConversationNotFound):
                raise NotFound("No such conversation.") from None
            raise
    committed = ctx.services.turns.save(tx.commit())
    committed.add_done_callback(_report_failed_commit)
    return history[-1], history, committed


def _report_failed_commit(committed: asyncio.Task[None]) -> None:
    # Logged here, as the turn may have ended (its client gone) before awaiting it.
    if not committed.cancelled() and committed.exception() is not None:
        log.error("chat turn: saving the user message failed", exc_info=committed.exception())


async def _wait_saved(committed: asyncio.Task[None]) -> None:
    """The user message's commit, ended; a failure fails the turn before anything is sent."""
    await asyncio.shield(committed)


class _Reply:
    """What the turn has produced so far, and its saves."""

    def __init__(self, ctx: RequestContext, conversation_id: UUID, target: str) -> None:
        self.ctx = ctx
        self.conversation_id = conversation_id
        self.target = target
        # Text of the current round not yet saved.
        self.parts: list[str] = []
        self.usage: UsageEvent | None = None
        self.tool_rounds = 0
        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self.began = loop.time()
        self.first_delta: float | None = None

    def add_usage(self, usage: UsageEvent) -> None:
        if self.usage is None:
            self.usage = usage
        else:
            self.usage = UsageEvent(
                self.usage.prompt_tokens + usage.prompt_tokens,
                self.usage.completion_tokens + usage.completion_tokens,
                self.usage.total_tokens + usage.total_tokens,
            )

    def _metadata(self, **extra: Any) -> dict[str, Any]:
        usage = self.usage
        metadata: dict[str, Any] = {
            "target": self.target,
            "latency_ms": round((self.clock() - self.began) * 1000, 1),
            "usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }
        if self.first_delta is not None:
            metadata["time_to_first_token_ms"] = round((self.first_delta - self.began) * 1000, 1)
        if self.tool_rounds:
            metadata["tool_rounds"] = self.tool_rounds
        metadata.update(extra)
        return metadata

    def _take_text(self) -> str:
        # Taken before the save is awaited: a save under way already owns this text.
        text = "".join(self.parts)
        self.parts.clear()
        return text

    async def _insert(self, rows: list[tuple[str, str, dict[str, Any]]]) -> list[MessageRow]:
        saved = []
        async with self.ctx.db() as conn:
            for role, content, metadata in rows:
                saved.append(
                    await message_queries.add(conn, self.conversation_id, role, content, metadata)
                )
        return saved

    async def save_tool_round(
        self, calls: list[ToolCallEvent], results: list[str]
    ) -> tuple[str, list[ToolCall]]:
        text = self._take_text()
        made = [ToolCall(c.id, c.name, c.arguments_json) for c in calls]
        rows = [
            (
                "assistant",
                text,
                self._metadata(finish_reason="tool_calls", tool_calls=tool_calls_metadata(made)),
            )
        ]
        rows += [
            ("tool", result, {"tool_call_id": c.id, "name": c.name})
            for c, result in zip(calls, results, strict=True)
        ]
        await self.ctx.services.turns.shielded(self._insert(rows))
        return text, made

    async def save_reply(self, finish_reason: str) -> MessageRow:
        text = self._take_text()
        row = ("assistant", text, self._metadata(finish_reason=finish_reason))
        saved = await self.ctx.services.turns.shielded(self._insert([row]))
        return saved[0]

    async def save_partial(self, reason: str, error: str | None = None) -> None:
        """The reply so far, marked incomplete; nothing when no text came."""
        text = self._take_text()
        if not text:
            return
        extra: dict[str, Any] = {"incomplete": True, "reason": reason}
        if error is not None:
            extra["error"] = error
        row = ("assistant", text, self._metadata(**extra))
        await self.ctx.services.turns.shielded(self._insert([row]))


async def run_turn(
    ctx: RequestContext, conversation_id: UUID, message: str, model: str | None
) -> AsyncGenerator[TurnEvent, None]:
    """The turn's events; raises AppError subclasses (UNAUTHENTICATED, BAD_USER_INPUT,
    NOT_FOUND, RATE_LIMITED before anything streams; UPSTREAM_ERROR after)."""
    services = ctx.services
    chat = services.chat
    try:
        user_id = ctx.user_id()
        text = clean_message(message, chat.max_message_chars)
        route = resolve_model(ctx, model)
        user_row, history, committed = await _open_turn(ctx, conversation_id, text)
    except AppError as exc:
        CHAT_TURNS.labels(outcome="rejected").inc()
        log.info("chat turn refused: %s", exc.code)
        raise

    active = services.turns.begin()
    reply = _Reply(ctx, conversation_id, route.targets[0].name)
    outcome = "incomplete"
    CHAT_STREAMING_TURNS.inc()
    try:
        messages = to_messages(chat.system_prompt, history)
        offered = [name for name in chat.tools if name in tools.TOOLS]
        specs = tools.specs(offered)
        announced = False
        for round_ in range(chat.max_tool_rounds + 1):
            # The last round may not call tools: the model must answer with what it has.
            last = round_ == chat.max_tool_rounds
            request = ChatRequest(
                messages=messages,
                model=model,
                tools=specs,
                tool_choice="none" if last and specs else None,
                user=str(user_id),
            )
            calls: list[ToolCallEvent] = []
            finish = "stop"
            error: ErrorEvent | None = None
            async with aclosing(services.gateway.stream(request)) as stream:
                async for event in stream:
                    if type(event) is TextDelta:
                        if reply.first_delta is None:
                            reply.first_delta = reply.clock()
                            CHAT_TIME_TO_FIRST_TOKEN.labels(target=reply.target).observe(
                                reply.first_delta - reply.began
                            )
                        reply.parts.append(event.text)
                        yield TurnDelta(event.text)
                    elif type(event) is Started:
                        reply.target = event.target
                        if not announced:
                            announced = True
                            await _wait_saved(committed)
                            yield TurnStarted(user_row, event.target)
                    elif type(event) is ToolCallEvent:
                        calls.append(event)
                    elif type(event) is UsageEvent:
                        reply.add_usage(event)
                    elif type(event) is Finished:
                        finish = event.reason
                    elif type(event) is ErrorEvent:
                        error = event
            if error is not None:
                if not announced:
                    announced = True
                    await _wait_saved(committed)
                    yield TurnStarted(user_row, error.target or reply.target)
                outcome = "upstream_error"
                log.warning(
                    "chat turn: provider failed (%s, target %s)",
                    error.kind,
                    error.target,
                )
                await reply.save_partial("upstream_error", error.kind)
                raise UpstreamError(error.message, reason=error.kind)
            if calls and specs and not last:
                results = []
                for call in calls:
                    yield TurnToolCall(call.id, call.name, call.arguments_json)
                    result = await tools.call(ctx, offered, call.name, call.arguments_json)
                    results.append(result)
                    yield TurnToolResult(call.id, call.name, result)
                reply.tool_rounds += 1
                said, made = await reply.save_tool_round(calls, results)
                messages = [
                    *messages,
                    Message("assistant", said or None, tool_calls=tuple(made)),
                    *(
                        Message("tool", result, tool_call_id=c.id, name=c.name)
                        for c, result in zip(calls, results, strict=True)
                    ),
                ]
                continue
            saved = await reply.save_reply(finish)
            outcome = "completed"
            yield TurnCompleted(saved, reply.usage)
            return
    finally:
        CHAT_STREAMING_TURNS.dec()
        try:
            if outcome == "incomplete":
                await reply.save_partial("cancelled")
        finally:
            services.turns.end(active)
            CHAT_TURNS.labels(outcome=outcome).inc()
            CHAT_TURN_DURATION.labels(target=reply.target).observe(reply.clock() - reply.began)
            log.info(
                "chat turn %s: target %s, %.0f ms, %d tool rounds",
                outcome,
                reply.target,
                (reply.clock() - reply.began) * 1000,
                reply.tool_rounds,
            )


async def send_message(
    ctx: RequestContext, conversation_id: UUID, message: str, model: str | None
) -> MessageRow:
    """The same turn without streaming: the saved assistant reply."""
    async with aclosing(run_turn(ctx, conversation_id, message, model)) as events:
        async for event in events:
            if isinstance(event, TurnCompleted):
                return event.message
    raise UpstreamError("The reply was interrupted. Please try again.")

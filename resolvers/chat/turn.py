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
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from uuid import UUID

from db import messages as message_queries
from db.errors import ConversationNotFound
from db.records import MessageRow
from gateway.errors import UnknownModel
from gateway.events import ErrorEvent, Finished, Started, TextDelta, ToolCallEvent, UsageEvent
from gateway.request import ChatRequest, Message
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
from resolvers.chat.history import to_messages
from resolvers.chat.reply import Reply
from resolvers.context import RequestContext
from resolvers.errors import AppError, BadUserInput, NotFound, UpstreamError
from resolvers.metrics import (
    CHAT_STREAMING_TURNS,
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
    transaction = AsyncExitStack()
    with message_limits.enforced(chat.max_messages_per_hour):
        try:
            conn = await transaction.enter_async_context(ctx.db())
            history = await message_queries.open_turn(
                conn,
                conversation_id,
                text,
                per_hour=chat.max_messages_per_hour,
                history_limit=chat.history_limit,
            )
        except BaseException as exc:
            # Rolled back; the exception goes on (a refusal as RATE_LIMITED).
            await transaction.__aexit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, ConversationNotFound):
                raise NotFound("No such conversation.") from None
            raise
    committed = ctx.services.turns.save(transaction.aclose())
    committed.add_done_callback(_report_failed_commit)
    return history[-1], history, committed


def _report_failed_commit(committed: asyncio.Task[None]) -> None:
    # Logged here, as the turn may have ended (its client gone) before awaiting it.
    if not committed.cancelled() and committed.exception() is not None:
        log.error("chat turn: saving the user message failed", exc_info=committed.exception())


async def _wait_saved(committed: asyncio.Task[None]) -> None:
    """The user message's commit, ended; a failure fails the turn before anything is sent."""
    await asyncio.shield(committed)


@dataclass
class _Round:
    """What one model call ended with."""

    calls: list[ToolCallEvent] = field(default_factory=list)
    finish: str = "stop"
    error: ErrorEvent | None = None


class _Turn:
    """One turn after its user message was admitted: model calls and tool rounds until a
    reply, each step a method; `outcome` says how it ended, for the metrics and the log."""

    def __init__(
        self,
        ctx: RequestContext,
        model: str | None,
        user_id: UUID,
        opened: tuple[MessageRow, list[MessageRow], asyncio.Task[None]],
        reply: Reply,
    ) -> None:
        self.ctx = ctx
        self.model = model
        self.user_id = user_id
        self.user_row, history, self.committed = opened
        self.reply = reply
        chat = ctx.services.chat
        self.max_tool_rounds = chat.max_tool_rounds
        self.messages = to_messages(chat.system_prompt, history)
        self.offered = [name for name in chat.tools if name in tools.TOOLS]
        self.specs = tools.specs(self.offered)
        self.announced = False
        self.outcome = "incomplete"
        # Registered as in flight: graceful shutdown waits for it, then cancels it.
        self.task = ctx.services.turns.begin()

    async def events(self) -> AsyncGenerator[TurnEvent, None]:
        for round_ in range(self.max_tool_rounds + 1):
            # The last round may not call tools: the model must answer with what it has.
            last = round_ == self.max_tool_rounds
            result = _Round()
            async for event in self._call_model(last, result):
                yield event
            if result.error is not None:
                async for event in self._fail(result.error):
                    yield event
            if result.calls and self.specs and not last:
                async for event in self._tool_round(result.calls):
                    yield event
                continue
            saved = await self.reply.save_reply(result.finish)
            self.outcome = "completed"
            yield TurnCompleted(saved, self.reply.usage)
            return

    async def _announce(self, target: str) -> TurnStarted:
        """TurnStarted, once the user message has committed: nothing is emitted before."""
        self.announced = True
        await _wait_saved(self.committed)
        return TurnStarted(self.user_row, target)

    async def _call_model(self, last: bool, result: _Round) -> AsyncGenerator[TurnEvent, None]:
        request = ChatRequest(
            messages=self.messages,
            model=self.model,
            tools=self.specs,
            tool_choice="none" if last and self.specs else None,
            user=str(self.user_id),
        )
        reply = self.reply
        async with aclosing(self.ctx.services.gateway.stream(request)) as stream:
            async for event in stream:
                if type(event) is TextDelta:
                    reply.on_delta(event.text)
                    yield TurnDelta(event.text)
                elif type(event) is Started:
                    reply.on_started(event.target)
                    if not self.announced:
                        yield await self._announce(event.target)
                elif type(event) is ToolCallEvent:
                    result.calls.append(event)
                elif type(event) is UsageEvent:
                    reply.on_usage(event)
                elif type(event) is Finished:
                    result.finish = event.reason
                elif type(event) is ErrorEvent:
                    result.error = event

    async def _fail(self, error: ErrorEvent) -> AsyncGenerator[TurnEvent, None]:
        """The provider failed: the reply so far saved incomplete, then UPSTREAM_ERROR."""
        if not self.announced:
            yield await self._announce(error.target or self.reply.target)
        self.outcome = "upstream_error"
        log.warning("chat turn: provider failed (%s, target %s)", error.kind, error.target)
        await self.reply.save_partial("upstream_error", error.kind)
        raise UpstreamError(error.message, reason=error.kind)

    async def _tool_round(self, calls: list[ToolCallEvent]) -> AsyncGenerator[TurnEvent, None]:
        """Run the calls as the caller, save the round, and extend the history with it."""
        results = []
        for call in calls:
            yield TurnToolCall(call.id, call.name, call.arguments_json)
            result = await tools.call(self.ctx, self.offered, call.name, call.arguments_json)
            results.append(result)
            yield TurnToolResult(call.id, call.name, result)
        said, made = await self.reply.save_tool_round(calls, results)
        self.messages = [
            *self.messages,
            Message("assistant", said or None, tool_calls=tuple(made)),
            *(
                Message("tool", result, tool_call_id=c.id, name=c.name)
                for c, result in zip(calls, results, strict=True)
            ),
        ]

    async def close(self) -> None:
        """However the turn ended: a reply cut short is saved incomplete, then counted."""
        reply = self.reply
        try:
            if self.outcome == "incomplete":
                await reply.save_partial("cancelled")
        finally:
            self.ctx.services.turns.end(self.task)
            CHAT_TURNS.labels(outcome=self.outcome).inc()
            CHAT_TURN_DURATION.labels(target=reply.target).observe(reply.elapsed)
            log.info(
                "chat turn %s: target %s, %.0f ms, %d tool rounds",
                self.outcome,
                reply.target,
                reply.elapsed * 1000,
                reply.tool_rounds,
            )


async def run_turn(
    ctx: RequestContext, conversation_id: UUID, message: str, model: str | None
) -> AsyncGenerator[TurnEvent, None]:
    """The turn's events; raises AppError subclasses (UNAUTHENTICATED, BAD_USER_INPUT,
    NOT_FOUND, RATE_LIMITED before anything streams; UPSTREAM_ERROR after)."""
    try:
        user_id = ctx.user_id()
        text = clean_message(message, ctx.services.chat.max_message_chars)
        route = resolve_model(ctx, model)
        opened = await _open_turn(ctx, conversation_id, text)
    except AppError as exc:
        CHAT_TURNS.labels(outcome="rejected").inc()
        log.info("chat turn refused: %s", exc.code)
        raise
    turn = _Turn(ctx, model, user_id, opened, Reply(ctx, conversation_id, route.targets[0].name))
    CHAT_STREAMING_TURNS.inc()
    try:
        async for event in turn.events():
            yield event
    finally:
        CHAT_STREAMING_TURNS.dec()
        await turn.close()


async def send_message(
    ctx: RequestContext, conversation_id: UUID, message: str, model: str | None
) -> MessageRow:
    """The same turn without streaming: the saved assistant reply."""
    async with aclosing(run_turn(ctx, conversation_id, message, model)) as events:
        async for event in events:
            if isinstance(event, TurnCompleted):
                return event.message
    raise UpstreamError("The reply was interrupted. Please try again.")

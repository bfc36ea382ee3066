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
from dataclasses import dataclass, field
from uuid import UUID

from db import turns as turn_queries
from db.errors import BadParent, ConversationNotFound, MessageIdTaken, MessageNotFound
from db.records import MessageRow
from gateway.errors import UnknownModel
from gateway.events import ErrorEvent, Finished, Started, TextDelta, ToolCallEvent, UsageEvent
from gateway.request import ChatRequest, Message
from gateway.router import Route
from resolvers.chat import message_limits, rejoin, titles, tools
from resolvers.chat.events import (
    TurnCompleted,
    TurnDelta,
    TurnEvent,
    TurnStarted,
    TurnToolCall,
    TurnToolResult,
)
from resolvers.chat.history import to_messages
from resolvers.chat.live import Followed, Follower, LiveTurn
from resolvers.chat.reply import Reply
from resolvers.context import RequestContext
from resolvers.conversation_events import ADDED, CONVERSATION, UPDATED, announce
from resolvers.errors import AppError, BadUserInput, Conflict, NotFound, UpstreamError
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


@dataclass(frozen=True, slots=True)
class _Opened:
    user_message: MessageRow
    history: list[MessageRow]
    reply: MessageRow
    # The opening transaction's commit, still running while the model's request starts.
    committed: asyncio.Task[None]
    # A regeneration saved no user message; an edit or a regeneration changed the branch shown.
    regenerated: bool = False
    branched: bool = False


@dataclass(frozen=True, slots=True)
class _Resent:
    """A message sent again under the id it was first sent with: its turn, to rejoin."""

    user_message: MessageRow
    reply: MessageRow


@dataclass(frozen=True, slots=True)
class Opening:
    """What a turn opens with: a new user message (`text`, after `parent_id` or the
    conversation's current message, saved under `message_id` if the client chose one), or a
    new reply to the user message `replaces` answers."""

    conversation_id: UUID | None = None
    text: str = ""
    parent_id: UUID | None = None
    replaces: UUID | None = None
    message_id: UUID | None = None


async def _open_turn(ctx: RequestContext, opening: Opening) -> _Opened | _Resent:
    """One short transaction, one statement after the identity: the conversation checked, the
    message admitted under the hourly limit and the cap on turns in flight and saved, the
    reply row created `streaming` and made the conversation's current message, the history
    the model will see read (the branch's path; the new message is its newest entry).
    Returned with its commit still running. A message sent before under its `message_id`
    writes nothing and comes back as `_Resent`."""
    chat = ctx.services.chat
    tx = ctx.transaction()
    with message_limits.enforced(chat.max_messages_per_hour, chat.max_turns_in_flight):
        try:
            conn = await tx.start()
            if opening.replaces is not None:
                history, reply = await turn_queries.open_regenerate_turn(
                    conn,
                    opening.replaces,
                    per_hour=chat.max_messages_per_hour,
                    history_limit=chat.history_limit,
                    max_in_flight=chat.max_turns_in_flight,
                    process=ctx.services.process_id,
                )
            else:
                assert opening.conversation_id is not None
                history, reply = await turn_queries.open_turn(
                    conn,
                    opening.conversation_id,
                    opening.text,
                    per_hour=chat.max_messages_per_hour,
                    history_limit=chat.history_limit,
                    max_in_flight=chat.max_turns_in_flight,
                    process=ctx.services.process_id,
                    parent_id=opening.parent_id,
                    message_id=opening.message_id,
                )
                if not history:
                    assert opening.message_id is not None
                    sent = await turn_queries.message(conn, opening.message_id)
                    await tx.rollback()
                    assert sent is not None
                    return _Resent(sent, reply)
        except BaseException as exc:
            # Rolled back; the exception goes on (a refusal as RATE_LIMITED).
            await tx.rollback()
            if isinstance(exc, ConversationNotFound):
                raise NotFound("No such conversation.") from None
            if isinstance(exc, MessageNotFound):
                raise NotFound("No such reply.") from None
            if isinstance(exc, MessageIdTaken):
                raise Conflict(
                    "messageId is already the id of another message: another conversation's,"
                    " or one with another text.",
                    argument="messageId",
                ) from None
            if isinstance(exc, BadParent):
                if opening.replaces is not None:
                    raise BadUserInput(
                        "Only an assistant reply to a user message can be regenerated.",
                        argument="replyId",
                    ) from None
                raise BadUserInput(
                    "parentId is not a message of this conversation.", argument="parentId"
                ) from None
            raise
    committed = ctx.services.turns.save(tx.commit())
    committed.add_done_callback(_report_failed_commit)
    regenerated = opening.replaces is not None
    branched = regenerated or opening.parent_id is not None
    return _Opened(history[-1], history, reply, committed, regenerated, branched)


def _report_failed_commit(committed: asyncio.Task[None]) -> None:
    # Logged here, as the turn may have ended (its client gone) before awaiting it.
    if not committed.cancelled() and committed.exception() is not None:
        log.error("chat turn: saving the user message failed", exc_info=committed.exception())


@dataclass
class _Round:
    """What one model call ended with."""

    calls: list[ToolCallEvent] = field(default_factory=list)
    finish: str = "stop"
    error: ErrorEvent | None = None


# How a turn ended -> the reply's status and finish reason.
_ENDINGS = {
    "cancelled": "cancelled",
    "interrupted": "interrupted",
    "length": "length",
    "upstream_error": "error",
    "error": "error",
}


class _Turn:
    """One turn after its user message was admitted, run by a task of its own: model calls
    and tool rounds until a reply, each step a method. What it produces goes to its
    `LiveTurn`, which hands it to whoever follows; `outcome` says how it ended."""

    def __init__(
        self,
        ctx: RequestContext,
        model: str | None,
        route: Route,
        user_id: UUID,
        opened: _Opened,
        live: LiveTurn,
    ) -> None:
        self.ctx = ctx
        self.model = model
        # Resolved once, before the turn opened: every round is served from it.
        self.route = route
        self.user_id = user_id
        self.opened = opened
        self.live = live
        chat = ctx.services.chat
        self.reply = Reply(
            ctx,
            opened.reply.conversation_id,
            opened.reply.id,
            route.targets[0].name,
            opened.user_message.id,
        )
        self.max_tool_rounds = chat.max_tool_rounds
        self.max_reply_chars = chat.max_reply_chars
        self.messages = to_messages(chat.system_prompt, opened.history)
        self.offered = [name for name in chat.tools if name in tools.TOOLS]
        self.specs = tools.specs(self.offered)
        self.announced = False
        self.announcing: asyncio.Task[None] | None = None
        self.outcome = "incomplete"
        self.finish_reason = "stop"
        self.error_kind: str | None = None

    async def run(self) -> None:
        """The task's body: the turn to its end, the reply saved, the followers told."""
        registry = self.ctx.services.turns
        task = registry.begin()
        error: BaseException | None = None
        cancelled = False
        CHAT_STREAMING_TURNS.inc()
        try:
            async for event in self._events():
                self.live.emit(event)
        except asyncio.CancelledError:
            cancelled = True
            self.outcome = self.live.stop_reason or "interrupted"
        except Exception as exc:  # noqa: BLE001 - handed to every follower, which raises it
            error = exc
            if self.outcome == "incomplete":
                self.outcome = "error"
        finally:
            CHAT_STREAMING_TURNS.dec()
        try:
            saved = await self._save()
            completed = None if saved is None else TurnCompleted(saved, self.reply.usage)
            self.live.finish(completed if error is None else None, error)
            if saved is not None:
                await self._announced()
                await announce(self.ctx.services, saved.conversation_id, UPDATED, saved.id)
                self._title(saved)
        finally:
            self.reply.stop_checkpoints()
            self.ctx.services.hub.remove(self.live)
            registry.end(task)
            self._count()
        if cancelled:
            raise asyncio.CancelledError

    async def _events(self) -> AsyncGenerator[TurnEvent, None]:
        for round_ in range(self.max_tool_rounds + 1):
            # The last round may not call tools: the model must answer with what it has.
            last = round_ == self.max_tool_rounds
            result = _Round()
            async for event in self._call_model(last, result):
                yield event
            if self.outcome == "length":
                return
            if result.error is not None:
                async for event in self._fail(result.error):
                    yield event
            if result.calls and self.specs and not last:
                async for event in self._tool_round(result.calls):
                    yield event
                continue
            self.outcome = "completed"
            self.finish_reason = result.finish
            return

    async def _start(self, target: str) -> AsyncGenerator[TurnEvent, None]:
        """TurnStarted, once the user message has committed (nothing is emitted before); then
        the conversation's other devices hear of the two new messages, in a task of their own:
        each announcement is a round trip to the broker, which the first delta need not wait
        for (the reply's end is announced after them, `_announced`)."""
        self.announced = True
        await asyncio.shield(self.opened.committed)
        opened = self.opened
        yield TurnStarted(opened.user_message, target, opened.reply.id)
        self.announcing = self.ctx.services.turns.save(self._announce_start())

    async def _announce_start(self) -> None:
        opened = self.opened
        conversation = opened.reply.conversation_id
        if not opened.regenerated:
            await announce(self.ctx.services, conversation, ADDED, opened.user_message.id)
        await announce(self.ctx.services, conversation, ADDED, opened.reply.id, streaming=True)
        if opened.branched:
            # Another branch is shown now: every device's currentMessageId changed.
            await announce(self.ctx.services, conversation, CONVERSATION)

    async def _announced(self) -> None:
        """The start's announcements made, so the reply's end is announced after them."""
        if self.announcing is not None and not self.announcing.done():
            # Not cancelled with the turn: the announcements run to their end.
            await asyncio.wait([self.announcing])

    async def _call_model(self, last: bool, result: _Round) -> AsyncGenerator[TurnEvent, None]:
        request = ChatRequest(
            messages=self.messages,
            model=self.model,
            tools=self.specs,
            tool_choice="none" if last and self.specs else None,
            user=str(self.user_id),
        )
        reply = self.reply
        async with aclosing(self.ctx.services.gateway.stream(request, self.route)) as stream:
            async for event in stream:
                if type(event) is TextDelta:
                    yield TurnDelta(reply.on_delta(event.text))
                    if reply.length > self.max_reply_chars:
                        # A server limit ends the turn as stopChat would; the upstream closes.
                        self.outcome = "length"
                        return
                elif type(event) is Started:
                    reply.on_started(event.target)
                    if not self.announced:
                        async for started in self._start(event.target):
                            yield started
                elif type(event) is ToolCallEvent:
                    result.calls.append(event)
                elif type(event) is UsageEvent:
                    reply.on_usage(event)
                elif type(event) is Finished:
                    result.finish = event.reason
                elif type(event) is ErrorEvent:
                    result.error = event

    async def _fail(self, error: ErrorEvent) -> AsyncGenerator[TurnEvent, None]:
        """The provider failed: the reply so far is saved incomplete, then UPSTREAM_ERROR."""
        if not self.announced:
            async for started in self._start(error.target or self.reply.target):
                yield started
        self.outcome = "upstream_error"
        self.error_kind = error.kind
        log.warning("chat turn: provider failed (%s, target %s)", error.kind, error.target)
        raise UpstreamError(error.message, reason=error.kind)

    async def _tool_round(self, calls: list[ToolCallEvent]) -> AsyncGenerator[TurnEvent, None]:
        """Run the calls as the caller, save the round, and extend the history with it."""
        results = []
        for call in calls:
            yield TurnToolCall(call.id, call.name, call.arguments_json)
            result = await tools.call(self.ctx, self.offered, call.name, call.arguments_json)
            results.append(result)
            yield TurnToolResult(call.id, call.name, result)
        said = self.reply.text
        made = await self.reply.save_tool_round(calls, results)
        self.messages = [
            *self.messages,
            Message("assistant", said or None, tool_calls=tuple(made)),
            *(
                Message("tool", result, tool_call_id=c.id, name=c.name)
                for c, result in zip(calls, results, strict=True)
            ),
        ]

    async def _save(self) -> MessageRow | None:
        if not self.opened.committed.done() or self.opened.committed.exception() is not None:
            # The opening never committed: there is no reply row to save.
            if not self.opened.committed.done():
                await asyncio.wait([self.opened.committed])
            if self.opened.committed.cancelled() or self.opened.committed.exception():
                return None
        if self.outcome == "completed":
            return await self.reply.finish(turn_queries.COMPLETE, self.finish_reason)
        extra = {"reason": self.outcome}
        if self.error_kind:
            extra["error"] = self.error_kind
        finish_reason = _ENDINGS.get(self.outcome, "error")
        return await self.reply.finish(turn_queries.INCOMPLETE, finish_reason, **extra)

    def _title(self, saved: MessageRow) -> None:
        """After a conversation's first exchange, its title in a task of its own."""
        path = self.opened.history
        if self.outcome != "completed" or not titles.wanted(self.ctx, path):
            return
        work = titles.give_title(self.ctx, saved.conversation_id, [*path, saved])
        self.ctx.services.turns.save(work)

    def _count(self) -> None:
        reply = self.reply
        CHAT_TURNS.labels(outcome=self.outcome).inc()
        CHAT_TURN_DURATION.labels(target=reply.target).observe(reply.elapsed)
        log.info(
            "chat turn %s: reply %s, target %s, %.0f ms, %d tool rounds",
            self.outcome,
            reply.reply_id,
            reply.target,
            reply.elapsed * 1000,
            reply.tool_rounds,
        )


async def start_turn(
    ctx: RequestContext,
    conversation_id: UUID,
    message: str,
    model: str | None,
    parent_id: UUID | None = None,
    message_id: UUID | None = None,
) -> Follower | AsyncGenerator[Followed, None]:
    """Open a turn and start its task; the caller follows it from the start. Raises AppError
    subclasses (UNAUTHENTICATED, BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, CONFLICT) before
    anything runs; the follower raises UPSTREAM_ERROR when the provider fails. With
    `parent_id` the new message follows that message (an edit: a new branch) instead of the
    current one. A message sent before under `message_id` starts nothing: its turn is
    rejoined (TurnStarted, then as `resumeChat`)."""
    try:
        ctx.user_id()
        text = clean_message(message, ctx.services.chat.max_message_chars)
    except AppError as exc:
        _refused(exc)
        raise
    return await _start(ctx, model, Opening(conversation_id, text, parent_id, None, message_id))


async def start_regenerate(ctx: RequestContext, reply_id: UUID, model: str | None) -> Follower:
    """A new reply to the user message `reply_id` answers, a sibling of it, as a turn of its
    own that the caller follows from the start; refusals as `start_turn`'s."""
    started = await _start(ctx, model, Opening(replaces=reply_id))
    assert isinstance(started, Follower)
    return started


def _refused(exc: AppError) -> None:
    CHAT_TURNS.labels(outcome="rejected").inc()
    log.info("chat turn refused: %s", exc.code)


async def _start(
    ctx: RequestContext, model: str | None, opening: Opening
) -> Follower | AsyncGenerator[Followed, None]:
    try:
        user_id = ctx.user_id()
        route = resolve_model(ctx, model)
        opened = await _open_turn(ctx, opening)
    except AppError as exc:
        _refused(exc)
        raise
    if isinstance(opened, _Resent):
        return _rejoined(ctx, opened, route)
    live = LiveTurn(
        opened.reply.id,
        opened.reply.conversation_id,
        user_id,
        ctx.services.chat.max_buffered_events,
    )
    follower = live.follow(snapshot=False)
    ctx.services.hub.add(live)
    live.task = asyncio.ensure_future(_Turn(ctx, model, route, user_id, opened, live).run())
    return follower


async def _rejoined(
    ctx: RequestContext, resent: _Resent, route: Route
) -> AsyncGenerator[Followed, None]:
    """A resent message's turn as its first send began it: TurnStarted, then the reply so far
    and the rest of it as `resumeChat` gives them."""
    reply = resent.reply
    target = reply.metadata.get("target") or route.targets[0].name
    yield TurnStarted(resent.user_message, str(target), reply.id)
    async with aclosing(rejoin.resume(ctx, reply.id)) as events:
        async for event in events:
            yield event


async def _followed(follower: Follower) -> AsyncGenerator[Followed, None]:
    try:
        async for event in follower:
            yield event
    finally:
        follower.close()


async def run_turn(
    ctx: RequestContext,
    conversation_id: UUID,
    message: str,
    model: str | None,
    parent_id: UUID | None = None,
    message_id: UUID | None = None,
) -> AsyncGenerator[Followed, None]:
    """The turn's events from its start. Leaving (closing this generator) only detaches: the
    turn goes on and saves its reply."""
    started = await start_turn(ctx, conversation_id, message, model, parent_id, message_id)
    events = _followed(started) if isinstance(started, Follower) else started
    async with aclosing(events):
        async for event in events:
            yield event


async def run_regenerate(
    ctx: RequestContext, reply_id: UUID, model: str | None
) -> AsyncGenerator[Followed, None]:
    """A regeneration's events from its start; leaving only detaches, as for `run_turn`."""
    follower = await start_regenerate(ctx, reply_id, model)
    async with aclosing(_followed(follower)) as events:
        async for event in events:
            yield event


async def send_message(
    ctx: RequestContext,
    conversation_id: UUID,
    message: str,
    model: str | None,
    parent_id: UUID | None = None,
    message_id: UUID | None = None,
) -> MessageRow:
    """The same turn without streaming: the saved assistant reply."""
    turn = run_turn(ctx, conversation_id, message, model, parent_id, message_id)
    async with aclosing(turn) as events:
        async for event in events:
            if isinstance(event, TurnCompleted):
                return event.message
    raise UpstreamError("The reply was interrupted. Please try again.")

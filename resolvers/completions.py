"""The gateway's OpenAI-compatible surface for a signed-in user: who may call it, and how
often. Each request counts against the same hourly allowance as a chat message, and is one
of the caller's turns in flight until it ends; admitting it and ending it are one statement
each (db/completion_calls.py).

A whole (non-streaming) completion is answered before its end statement has run: that round
trip was a fifth of the call's time at one client (docs/benchmarks.md). The turn is then
counted for that moment longer, never shorter, so the cap is never exceeded; and the caller's
next call in this process waits for its own ends still running here before it is admitted, so
a client at its cap calling again as soon as it has its answer is admitted as before. At
most `MAX_ENDS_BEHIND` ends run so in a process; past them a call's end is awaited as before. A
stream's end still runs before its body ends (after `[DONE]`): a streaming client reads to the
end of the body, so there it costs the client nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from uuid import UUID
from weakref import WeakKeyDictionary

from db import completion_calls
from db.session import Identity
from gateway.errors import CompletionFailed
from gateway.events import Completion, Event
from gateway.request import ChatRequest
from gateway.router import Route
from resolvers.chat import message_limits
from resolvers.chat.registry import TurnRegistry
from resolvers.chat.turn import resolve_model
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, UpstreamError

log = logging.getLogger("reactor.completions")

# At most this many ends run behind their answers in a process; past it a call's end is
# awaited before its answer, as before. Each holds a pooled connection while its caller's next
# call may take another: unbounded, the 32-client bench grew the pool by a quarter and, on a
# PostgreSQL near its connection limit, was refused connections (docs/benchmarks.md).
MAX_ENDS_BEHIND = 4


class _Ending:
    """A process's calls whose end is still running (its registry's), per caller."""

    __slots__ = ("behind", "callers")

    def __init__(self) -> None:
        self.callers: dict[UUID, set[asyncio.Task[None]]] = {}
        # Of those, the ends not awaited by their call.
        self.behind = 0


_ENDING: WeakKeyDictionary[TurnRegistry, _Ending] = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request let through: `user` set to the caller, and its model already resolved."""

    request: ChatRequest
    route: Route
    # Its place among the caller's turns in flight, given back when the call ends.
    turn_id: UUID
    # Who gives it back.
    identity: Identity
    user_id: UUID

    @property
    def model_name(self) -> str:
        """The model the response names: what the client asked for, else the alias served."""
        return self.request.model or self.route.alias or ""


def check_bounds(ctx: RequestContext, request: ChatRequest) -> None:
    """Refuse what would cost more than a chat message may: a message longer than the chat
    surfaces allow, or more output tokens than `[ai] max_output_tokens`. Checked here, not in
    a wire format, so every surface serving `ChatRequest`s holds the same limits."""
    max_chars = ctx.services.chat.max_message_chars
    for n, message in enumerate(request.messages):
        # Tool call arguments are sent to the model as much as the text is.
        length = len(message.content or "") + sum(len(c.arguments_json) for c in message.tool_calls)
        if length > max_chars:
            raise BadUserInput(
                f"messages.{n}: a message has at most {max_chars} characters.",
                argument="messages",
            )
    cap = ctx.services.gateway.max_output_tokens
    if request.max_tokens is not None and request.max_tokens > cap:
        raise BadUserInput(
            f"max_tokens (or max_completion_tokens) is at most {cap}.", argument="max_tokens"
        )


async def admit(ctx: RequestContext, request: ChatRequest) -> Admitted:
    """The request, once the caller is known, its size within bounds, the model known and
    the hourly allowance not spent; raises AppError subclasses otherwise. A request without
    `max_tokens` is sent with the gateway's cap."""
    user_id = ctx.user_id()
    # Before the allowance: a refused request costs nothing, so it counts for nothing.
    check_bounds(ctx, request)
    route = resolve_model(ctx, request.model)
    pending = _ENDING.get(ctx.services.turns)
    ending = pending.callers.get(user_id) if pending is not None else None
    if ending:
        # The caller's previous calls have given their turns back before this one counts.
        await asyncio.wait(set(ending))
    chat = ctx.services.chat
    identity = Identity.of(ctx.claims)
    with message_limits.enforced(chat.max_messages_per_hour, chat.max_turns_in_flight):
        # A call in flight counts with the chat turns under the same per-user cap.
        # A caller gone mid-admission (a client leaving, shutdown) leaves no turn counted.
        engine = ctx.services.engine
        admission = completion_calls.admit(
            engine,
            identity,
            per_hour=chat.max_messages_per_hour,
            max_in_flight=chat.max_turns_in_flight,
            process=ctx.services.process_id,
        )
        turn_id = await ctx.services.turns.taken_back_if_left(
            admission, partial(completion_calls.end, engine, identity)
        )
    ctx.services.turns.calls.add(turn_id)
    # Providers see which of our users asked, for their abuse tracking.
    return Admitted(
        dataclasses.replace(request, user=str(user_id)), route, turn_id, identity, user_id
    )


def _end(ctx: RequestContext, admitted: Admitted) -> asyncio.Task[None]:
    """The call's end, started: it runs to its end whatever becomes of the caller, and
    shutdown waits for it."""
    turns = ctx.services.turns
    end = turns.save(completion_calls.end(ctx.services.engine, admitted.identity, admitted.turn_id))
    callers = _ENDING.setdefault(turns, _Ending()).callers
    ending = callers.setdefault(admitted.user_id, set())
    ending.add(end)

    def ended(task: asyncio.Task[None]) -> None:
        # Ended, or its end failed: then it is the sweep's, as one of ours no longer running.
        turns.calls.discard(admitted.turn_id)
        ending.discard(task)
        if not ending and callers.get(admitted.user_id) is ending:
            del callers[admitted.user_id]

    end.add_done_callback(ended)
    return end


async def stream(ctx: RequestContext, admitted: Admitted) -> AsyncGenerator[Event, None]:
    try:
        async with aclosing(
            ctx.services.gateway.stream(admitted.request, admitted.route)
        ) as events:
            async for event in events:
                yield event
    finally:
        await asyncio.shield(_end(ctx, admitted))


async def complete(ctx: RequestContext, admitted: Admitted) -> Completion:
    try:
        return await ctx.services.gateway.complete(admitted.request, admitted.route)
    except CompletionFailed as exc:
        raise UpstreamError(exc.message, reason=exc.kind) from None
    finally:
        end = _end(ctx, admitted)
        pending = _ENDING[ctx.services.turns]
        if pending.behind < MAX_ENDS_BEHIND:
            # Not awaited: the answer goes out while the turn is given back (the module's note).
            pending.behind += 1
            end.add_done_callback(partial(_ended_behind, pending))
        else:
            await asyncio.shield(end)


def _ended_behind(pending: _Ending, end: asyncio.Task[None]) -> None:
    pending.behind -= 1
    if not end.cancelled() and (error := end.exception()) is not None:
        log.warning("an /ai/v1 call's end failed (the sweep will end it): %r", error)

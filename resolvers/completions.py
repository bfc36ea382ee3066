"""The gateway's OpenAI-compatible surface for a signed-in user: who may call it, and how
often. Each request counts against the same hourly allowance as a chat message, and is one
of the caller's turns in flight until it ends; admitting it and ending it are one statement
each (db/completion_calls.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from uuid import UUID

from db import completion_calls
from db.session import Identity
from gateway.errors import CompletionFailed
from gateway.events import Completion, Event
from gateway.request import ChatRequest
from gateway.router import Route
from resolvers.chat import message_limits
from resolvers.chat.turn import resolve_model
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, UpstreamError


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request let through: `user` set to the caller, and its model already resolved."""

    request: ChatRequest
    route: Route
    # Its place among the caller's turns in flight, given back when the call ends.
    turn_id: UUID
    # Who gives it back.
    identity: Identity

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
    return Admitted(dataclasses.replace(request, user=str(user_id)), route, turn_id, identity)


async def _end(ctx: RequestContext, admitted: Admitted) -> None:
    end = completion_calls.end(ctx.services.engine, admitted.identity, admitted.turn_id)
    try:
        await ctx.services.turns.shielded(end)
    finally:
        # Ended, or its end failed: then it is the sweep's, as one of ours no longer running.
        ctx.services.turns.calls.discard(admitted.turn_id)


async def stream(ctx: RequestContext, admitted: Admitted) -> AsyncGenerator[Event, None]:
    try:
        async with aclosing(
            ctx.services.gateway.stream(admitted.request, admitted.route)
        ) as events:
            async for event in events:
                yield event
    finally:
        await _end(ctx, admitted)


async def complete(ctx: RequestContext, admitted: Admitted) -> Completion:
    try:
        return await ctx.services.gateway.complete(admitted.request, admitted.route)
    except CompletionFailed as exc:
        raise UpstreamError(exc.message, reason=exc.kind) from None
    finally:
        await _end(ctx, admitted)

"""The gateway's OpenAI-compatible surface for a signed-in user: who may call it, and how
often. Each request counts against the same hourly allowance as a chat message."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

from gateway.errors import CompletionFailed, InvalidRequest
from gateway.events import Completion, Event
from gateway.openai_format import ParsedChatRequest, parse_chat_request
from resolvers.chat import message_limits
from resolvers.chat.turn import resolve_model
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, UpstreamError


async def admit(ctx: RequestContext, body: object) -> ParsedChatRequest:
    """The parsed request, once the caller is known, the body sound, the model known and the
    hourly allowance not spent; raises AppError subclasses otherwise."""
    user_id = ctx.user_id()
    try:
        parsed = parse_chat_request(body)
    except InvalidRequest as exc:
        raise BadUserInput(str(exc)) from None
    resolve_model(ctx, parsed.request.model)
    async with ctx.db() as conn:
        await message_limits.admit(conn, ctx.services.chat.max_messages_per_hour)
    # Providers see which of our users asked, for their abuse tracking.
    request = dataclasses.replace(parsed.request, user=str(user_id))
    return dataclasses.replace(parsed, request=request)


def model_name(ctx: RequestContext, parsed: ParsedChatRequest) -> str:
    """The model the response names: what the client asked for, else the default alias."""
    return parsed.request.model or resolve_model(ctx, None).alias or ""


def stream(ctx: RequestContext, parsed: ParsedChatRequest) -> AsyncGenerator[Event, None]:
    return ctx.services.gateway.stream(parsed.request)


async def complete(ctx: RequestContext, parsed: ParsedChatRequest) -> Completion:
    try:
        return await ctx.services.gateway.complete(parsed.request)
    except CompletionFailed as exc:
        raise UpstreamError(exc.message, reason=exc.kind) from None

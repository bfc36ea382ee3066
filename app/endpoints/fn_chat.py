"""/fn/v1/chat: the chat turn as Server-Sent Events, for clients of the earlier edge function.

POST `{"conversation_id", "message"}` (optional `"message_id"`: the id the user message is
saved under; the same id again rejoins that turn) with a bearer token. The stream is
`data: {"text": ...}` per delta and a last `data: [DONE]`; a provider failing mid-reply adds
`data: {"error": ...}` before it. The reply's id is in the `X-Reply-Id` header and every
event has an `id:` line, so `GET /fn/v1/chat/{reply_id}` rejoins it (`Last-Event-ID`
honoured); the client leaving only detaches, and the reply is written to its end. Refusals
come before the stream, as JSON `{"error": ...}` with their status; past the hourly limit
(or the turns in flight) that is 429 `{"error": "Rate limit exceeded"}`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.endpoints.request_context import request_context
from app.endpoints.request_json import MalformedJSON, json_object
from app.endpoints.streaming import SSE_HEADERS, EventStreamResponse
from resolvers.chat import rejoin
from resolvers.chat import turn as chat
from resolvers.chat.events import TurnDelta, TurnStarted
from resolvers.chat.live import Followed, TurnSnapshot
from resolvers.errors import AppError, RateLimited

DONE = b"data: [DONE]\n\n"
REPLY_ID_HEADER = "X-Reply-Id"


def _event(payload: dict[str, str]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def _refusal(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _sse(position: int, payload: dict[str, str]) -> bytes:
    # `id:` is the event's position in the reply (its characters so far): Last-Event-ID
    # continues from there, on this process or any other.
    return f"id: {position}\n".encode() + _event(payload)


async def _body(events: AsyncGenerator[Followed, None], position: int = 0) -> AsyncIterator[bytes]:
    """The reply's text from `position` on, then `[DONE]`."""
    sent = 0
    async with aclosing(events):
        try:
            async for event in events:
                if isinstance(event, TurnSnapshot):
                    sent = len(event.text)
                    if sent > position:
                        yield _sse(sent, {"text": event.text[position:]})
                elif type(event) is TurnDelta:
                    sent += len(event.text)
                    if sent > position:
                        yield _sse(
                            sent,
                            {"text": event.text[max(0, len(event.text) - (sent - position)) :]},
                        )
        except AppError as exc:
            yield _event({"error": exc.message})
    yield DONE


def _turn_refusal(exc: AppError) -> JSONResponse:
    if isinstance(exc, RateLimited):
        return _refusal("Rate limit exceeded", 429, {"Retry-After": str(exc.retry_after)})
    return _refusal(exc.message, exc.status)


async def fn_chat(request: Request) -> Response:
    if request.method != "POST":
        return _refusal("Use POST.", 405)
    ctx = await request_context(request)
    try:
        body = json_object(await request.body())
    except MalformedJSON as exc:
        return _refusal(str(exc), 400)
    message, model = body.get("message"), body.get("model")
    try:
        conversation_id = uuid.UUID(str(body.get("conversation_id")))
    except ValueError:
        return _refusal("`conversation_id` must be a UUID.", 400)
    if not isinstance(message, str) or not (model is None or isinstance(model, str)):
        return _refusal("`message` must be a string.", 400)
    message_id = body.get("message_id")
    try:
        chosen = None if message_id is None else uuid.UUID(str(message_id))
    except ValueError:
        return _refusal("`message_id` must be a UUID.", 400)
    turn = chat.run_turn(ctx, conversation_id, message, model, message_id=chosen)
    try:
        # The first event (the saved user message) comes after every refusal could happen.
        started = await anext(turn)
    except AppError as exc:
        return _turn_refusal(exc)
    headers = dict(SSE_HEADERS)
    if isinstance(started, TurnStarted):
        headers[REPLY_ID_HEADER] = str(started.reply_id)
    return EventStreamResponse(_body(turn), headers=headers)


async def fn_chat_resume(request: Request) -> Response:
    """GET /fn/v1/chat/{reply_id}: the reply rejoined as the same stream; `Last-Event-ID`
    (an EventSource reconnecting) continues after that event."""
    ctx = await request_context(request)
    try:
        reply_id = uuid.UUID(request.path_params["reply_id"])
    except ValueError:
        return _refusal("The reply id must be a UUID.", 400)
    last = request.headers.get("last-event-id", "0").strip() or "0"
    if not last.isdigit():
        return _refusal("`Last-Event-ID` must be a position this stream gave.", 400)
    events = rejoin.resume(ctx, reply_id)
    try:
        first = await anext(events)
    except AppError as exc:
        return _turn_refusal(exc)

    async def replay() -> AsyncGenerator[Followed, None]:
        yield first
        async for event in events:
            yield event

    headers = {**SSE_HEADERS, REPLY_ID_HEADER: str(reply_id)}
    return EventStreamResponse(_body(replay(), int(last)), headers=headers)

"""/fn/v1/chat: the chat turn as Server-Sent Events, for clients of the earlier edge function.

POST `{"conversation_id", "message"}` with a bearer token. The stream is `data: {"text": ...}`
per delta and a last `data: [DONE]`; a provider failing mid-reply adds `data: {"error": ...}`
before it. Refusals come before the stream, as JSON `{"error": ...}` with their status;
past the hourly limit that is 429 `{"error": "Rate limit exceeded"}`.
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
from resolvers.chat import turn as chat
from resolvers.chat.events import TurnDelta, TurnEvent
from resolvers.errors import AppError, RateLimited

DONE = b"data: [DONE]\n\n"


def _event(payload: dict[str, str]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def _refusal(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _body(turn: AsyncGenerator[TurnEvent, None]) -> AsyncIterator[bytes]:
    async with aclosing(turn):
        try:
            async for event in turn:
                if type(event) is TurnDelta:
                    yield _event({"text": event.text})
        except AppError as exc:
            yield _event({"error": exc.message})
    yield DONE


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
    turn = chat.run_turn(ctx, conversation_id, message, model)
    try:
        # The first event (the saved user message) comes after every refusal could happen.
        await anext(turn)
    except RateLimited as exc:
        return _refusal("Rate limit exceeded", 429, {"Retry-After": str(exc.retry_after)})
    except AppError as exc:
        return _refusal(exc.message, exc.status)
    return EventStreamResponse(_body(turn), headers=SSE_HEADERS)

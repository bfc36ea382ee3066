"""/ai/v1/chat/completions and /ai/v1/models: the gateway in OpenAI's Chat Completions format,
for the signed-in user (the access token is the API key), so OpenAI clients work unchanged.
Each request is parsed here, admitted and served by resolvers, and rendered here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.endpoints.openai_format import (
    InvalidRequest,
    completion_body,
    error_body,
    models_body,
    parse_chat_request,
    sse_stream,
)
from app.endpoints.request_context import request_context
from app.endpoints.request_json import MalformedJSON, json_object
from app.endpoints.streaming import SSE_HEADERS, EventStreamResponse
from resolvers import completions
from resolvers.errors import AppError, BadUserInput, RateLimited, UpstreamError
from resolvers.models import aliases

_TYPES = {
    401: ("authentication_error", "invalid_api_key"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
}


def _error(exc: AppError) -> JSONResponse:
    argument = exc.extensions.get("argument")
    if isinstance(exc, BadUserInput) and argument == "model":
        body = error_body(exc.message, code="model_not_found", param="model")
        return JSONResponse(body, status_code=404)
    kind, code = _TYPES.get(exc.status, ("invalid_request_error", None))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    body = error_body(exc.message, kind, code, argument)
    return JSONResponse(body, exc.status, headers=headers)


async def chat_completions(request: Request) -> Response:
    ctx = await request_context(request)
    try:
        body = json_object(await request.body())
    except MalformedJSON as exc:
        return JSONResponse(error_body(str(exc)), status_code=400)
    try:
        # A caller who is not signed in learns nothing about the body: 401 before 400.
        ctx.user_id()
        parsed = parse_chat_request(body)
        admitted = await completions.admit(ctx, parsed.request)
    except InvalidRequest as exc:
        return JSONResponse(error_body(str(exc)), status_code=400)
    except AppError as exc:
        return _error(exc)
    if parsed.stream:
        events = completions.stream(ctx, admitted)
        return EventStreamResponse(
            sse_stream(events, admitted.model_name, parsed.include_usage), headers=SSE_HEADERS
        )
    try:
        completion = await completions.complete(ctx, admitted)
    except UpstreamError as exc:
        body = error_body(exc.message, "upstream_error", exc.extensions.get("reason"))
        return JSONResponse(body, status_code=502)
    return JSONResponse(completion_body(completion))


async def models(request: Request) -> Response:
    ctx = await request_context(request)
    try:
        ctx.user_id()
    except AppError as exc:
        return _error(exc)
    return JSONResponse(models_body(aliases(ctx)))

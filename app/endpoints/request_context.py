"""The RequestContext of a plain HTTP endpoint, built the way /graphql builds it."""

from __future__ import annotations

from starlette.requests import Request

from resolvers.context import RequestContext, Services


async def request_context(request: Request) -> RequestContext:
    services: Services = request.app.state.services
    context = RequestContext(
        services=services,
        request_id=request.scope.get("state", {}).get("request_id") or RequestContext.new_id(),
        client_ip=request.client.host if request.client else None,
    )
    await context.authenticate(request.headers.get("authorization"))
    return context

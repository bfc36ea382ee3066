"""The RequestContext of a connection, built once here for /graphql and the plain endpoints."""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request

from resolvers.context import RequestContext, Services


def connection_context(connection: HTTPConnection) -> RequestContext:
    """The context before authentication: a WebSocket authenticates at connection_init."""
    services: Services = connection.app.state.services
    return RequestContext(
        services=services,
        request_id=connection.scope.get("state", {}).get("request_id") or RequestContext.new_id(),
        client_ip=connection.client.host if connection.client else None,
    )


async def request_context(request: Request) -> RequestContext:
    """An HTTP request's context, authenticated from its Authorization header."""
    context = connection_context(request)
    await context.authenticate(request.headers.get("authorization"))
    return context

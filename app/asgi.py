"""The ASGI app: routes, middleware, and a lifespan that owns the process's resources
(database pool, HTTP client, gateway), created once and closed on shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from app.endpoints.health import healthz, readyz
from app.middleware import BodySizeLimit, RequestId
from app.settings import Settings, load_settings
from db.engine import create_engine
from gateway.providers import create_http_client
from gateway.router import Gateway
from resolvers.context import Services
from resolvers.tokens import TokenVerifier
from schema.schema import build_schema
from schema.view import GraphQLView

log = logging.getLogger("reactor.app")


def _services(settings: Settings) -> Services:
    if settings.database.url is None or settings.auth.jwt_secret is None:
        raise RuntimeError("the database URL and the JWT secret are resolved before the app starts")
    http = create_http_client(settings.ai)
    return Services(
        settings=settings,
        engine=create_engine(
            settings.database.url.get_secret_value(),
            pool_size=settings.database.pool_size,
            max_overflow=settings.database.max_overflow,
        ),
        tokens=TokenVerifier(
            secret=settings.auth.jwt_secret.get_secret_value(),
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
        ),
        http=http,
        gateway=Gateway(settings.ai, http),
    )


def create_app(settings: Settings) -> Starlette:
    graphql = GraphQLView(build_schema(settings.server), settings.server)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = _services(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.http.aclose()
            await services.engine.dispose()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        middleware=[
            Middleware(RequestId),
            Middleware(BodySizeLimit, max_bytes=settings.server.max_body_bytes),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """uvicorn's factory for each worker: the CLI resolved the database URL into the environment."""
    return create_app(load_settings())

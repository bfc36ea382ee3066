"""The ASGI app: routes, middleware, and a lifespan that owns the process's resources
(database pool, HTTP client, gateway), created once and closed on shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from app.connections import ConnectionOperations
from app.endpoints.fn_chat import fn_chat, fn_chat_resume
from app.endpoints.graphiql import graphiql_assets
from app.endpoints.graphql import GraphQLView
from app.endpoints.health import healthz, readyz
from app.endpoints.metrics import mark_this_worker_dead, metrics_endpoint
from app.endpoints.openai_api import chat_completions, models
from app.endpoints.page import page_mount
from app.jwks_fetch import jwks_fetcher
from app.middleware import BodySizeLimit, RequestId
from app.settings import Settings, load_settings
from db.broker import Broker, BrokerLost
from db.brokers import create_broker
from db.engine import create_engine
from db.records import MessageRow
from gateway.providers import create_http_client
from gateway.router import Gateway
from resolvers.auth.jwks import KeySet
from resolvers.auth.passwords import Passwords
from resolvers.auth.settings import AuthSettings
from resolvers.auth.tokens import ExternalIssuer, TokenVerifier
from resolvers.chat.liveness import Liveness
from resolvers.chat.relay import TurnRelay
from resolvers.context import Services
from resolvers.conversation_events import UPDATED, announce
from schema.schema import build_schema

log = logging.getLogger("reactor.app")


def _services(settings: Settings, http: httpx.AsyncClient) -> Services:
    if settings.database.url is None or settings.auth.jwt_secret is None:
        raise RuntimeError("the database URL and the JWT secret are resolved before the app starts")
    auth = settings.auth
    return Services(
        engine=create_engine(
            settings.database.url.get_secret_value(),
            pool_size=settings.database.pool_size,
            max_overflow=settings.database.max_overflow,
        ),
        tokens=TokenVerifier(
            secret=settings.auth.jwt_secret.get_secret_value(),
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            ttl=auth.access_token_ttl,
            external=_external_issuer(auth, http),
        ),
        gateway=Gateway(settings.ai, http),
        passwords=Passwords(
            memory_kib=auth.argon2_memory_kib,
            time_cost=auth.argon2_time_cost,
            parallelism=auth.argon2_parallelism,
            max_concurrent=auth.argon2_max_concurrent,
        ),
        auth=auth,
        chat=settings.chat,
    )


def _external_issuer(auth: AuthSettings, http: httpx.AsyncClient) -> ExternalIssuer | None:
    if not (auth.jwks_url and auth.jwks_issuer and auth.jwks_audience):
        return None
    keys = KeySet(
        jwks_fetcher(http, auth.jwks_url), auth.jwks_cache_ttl, auth.jwks_min_refetch_interval
    )
    return ExternalIssuer(keys=keys, issuer=auth.jwks_issuer, audience=auth.jwks_audience)


def _database_url(settings: Settings) -> str:
    if settings.database.url is None:
        raise RuntimeError("the database URL is resolved before the app starts")
    return settings.database.url.get_secret_value()


CONNECT_SECONDS = 5.0


async def _connect_relay(services: Services, broker: Broker) -> None:
    """The broker started and the relay listening, retried until they are."""
    delay = 0.5
    while True:
        try:
            await broker.start()
            relay = TurnRelay(broker, services.hub)
            await relay.start()
        except (BrokerLost, OSError, TimeoutError) as exc:
            log.warning("broker unavailable (%s); retrying in %.0f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        services.relay = relay
        return


async def _announce_swept(services: Services, reply: MessageRow) -> None:
    await announce(services, reply.conversation_id, UPDATED, reply.id)


def create_app(settings: Settings) -> Starlette:
    schema = build_schema(settings.server, transport_extensions=[ConnectionOperations])
    graphql = GraphQLView(schema, settings.server)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        http = create_http_client(settings.ai)
        services = _services(settings, http)
        app.state.services = services
        broker = create_broker(settings.broker, _database_url(settings))
        connecting = asyncio.ensure_future(_connect_relay(services, broker))
        # Served at once when the database is there; without it the app still starts (and
        # /readyz says why), and the relay joins when the broker comes up.
        await asyncio.wait([connecting], timeout=CONNECT_SECONDS)
        liveness = Liveness(services, on_swept=partial(_announce_swept, services))
        await liveness.start()
        # Everything built so far (schema, metadata, modules) lives as long as the process.
        # Frozen, the cyclic collector stops re-scanning it on every full pass: those passes
        # stall the event loop, and with it every streaming turn (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            # uvicorn let streaming turns run for the grace period; what still runs is
            # cancelled here, each turn saving its partial reply before the pool closes.
            cancelled = await services.turns.cancel_all()
            if cancelled:
                log.warning("shutdown: %d chat turn(s) cancelled, partial replies saved", cancelled)
            await liveness.close()
            connecting.cancel()
            if services.relay is not None:
                await services.relay.close()
            await broker.close()
            await http.aclose()
            services.passwords.close()
            await services.engine.dispose()
            mark_this_worker_dead()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(settings.server.metrics_token)),
            Route("/fn/v1/chat", fn_chat, methods=["POST"]),
            Route("/fn/v1/chat/{reply_id}", fn_chat_resume, methods=["GET"]),
            Route("/ai/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/ai/v1/models", models, methods=["GET"]),
            graphiql_assets(settings.server.graphiql),
            page_mount(),  # last: it answers every path the routes above do not
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

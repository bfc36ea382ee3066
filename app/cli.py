"""`reactor-chat`: serve, migrate, products import."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from app.endpoints.metrics import MULTIPROC_ENV, fresh_multiprocess_dir
from app.graceful_ws import GRACEFUL_WEBSOCKETS
from app.http_limits import limited_http
from app.logging_setup import configure_logging, log_config
from app.settings import ConfigError, Settings, load_settings

log = logging.getLogger("reactor.cli")


def database_url(settings: Settings) -> str:
    """The configured database, or the embedded one under data_dir."""
    if settings.database.url is not None:
        return settings.database.url.get_secret_value()
    from app.embedded_db import embedded_url  # noqa: PLC0415 - starts a server: only when needed

    return embedded_url(settings.server.data_dir)


def _migrate(settings: Settings) -> str:
    from app.migrations import upgrade  # noqa: PLC0415

    url = database_url(settings)
    upgrade(url)
    return url


def _startup_line(settings: Settings, url: str) -> str:
    """Which mode the server runs in, and where."""
    server = settings.server
    if server.environment == "production":
        return f"production mode (no GraphiQL, introspection or field suggestions) on {url}"
    graphiql = f", GraphiQL at {url}/graphql" if server.graphiql else ""
    return f"development mode: chat page on {url}/{graphiql}"


def _exit_after_shutdown(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn  # noqa: PLC0415

    url = _migrate(settings)
    # Workers load the settings again; the environment carries the embedded database's URL
    # (a generated JWT secret they read from data_dir, where this process kept it).
    os.environ["REACTOR_DATABASE__URL"] = url
    host = host or settings.server.host
    port = port or settings.server.port
    print(f"reactor-chat: {_startup_line(settings, f'http://{host}:{port}')}", flush=True)  # noqa: T201
    workers = workers or settings.server.workers
    if workers > 1:
        # Before any worker starts: each one writes its metrics there for /metrics to add up.
        os.environ[MULTIPROC_ENV] = str(fresh_multiprocess_dir(settings.server.data_dir))
    # uvicorn re-raises the SIGTERM it handled once it has shut down; with this handler in
    # place that ends the process through Python, so atexit stops the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    uvicorn.run(
        "app.asgi:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # Request heads over the header limits are answered 431 before the app sees them.
        http=limited_http(settings.server.max_header_bytes, settings.server.max_headers),
        # WebSockets with a turn in flight close when it ends, within the grace period.
        ws=GRACEFUL_WEBSOCKETS,
        timeout_graceful_shutdown=math.ceil(settings.server.shutdown_grace_seconds),
        log_config=log_config(settings.server),
        log_level=settings.server.log_level.lower(),
        ws_ping_interval=20,
        ws_per_message_deflate=False,
        # A WebSocket message may be as large as an HTTP body, no larger (uvicorn allows 16 MiB).
        ws_max_size=settings.server.max_body_bytes,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reactor-chat", description="A GraphQL AI chatbot backend."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="migrate, then serve the API")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument("--workers", type=int)
    commands.add_parser("migrate", help="bring the database schema to the newest revision")
    products_cmd = commands.add_parser("products", help="manage the product catalogue")
    products_actions = products_cmd.add_subparsers(dest="action", required=True)
    import_cmd = products_actions.add_parser(
        "import", help="load a JSON array or a CSV with a header (name, description, price)"
    )
    import_cmd.add_argument("file", type=Path)
    return parser


def import_products(settings: Settings, file: Path) -> int:
    """Check every row, then load them all in one transaction; nothing on any error."""
    import asyncio  # noqa: PLC0415

    from db.engine import create_engine  # noqa: PLC0415
    from resolvers.catalogue import CatalogueError, load, read  # noqa: PLC0415

    try:
        items = read(file)
    except CatalogueError as exc:
        print(f"reactor-chat: {file}: {exc}; nothing was loaded", file=sys.stderr)  # noqa: T201
        return 1

    url = _migrate(settings)  # blocking, with its own event loop: before ours starts

    async def run() -> int:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            return await load(engine, items)
        finally:
            await engine.dispose()

    count = asyncio.run(run())
    print(f"reactor-chat: loaded {count} products from {file}")  # noqa: T201
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"reactor-chat: configuration error: {line}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.server)
    if args.command == "migrate":
        _migrate(settings)
        print("reactor-chat: database at the newest revision")  # noqa: T201
    elif args.command == "serve":
        serve(settings, args.host, args.port, args.workers)
    elif args.command == "products":
        return import_products(settings, args.file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`reactor-chat`: serve, migrate, products import."""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from app.banner import banner
from app.endpoints.metrics import MULTIPROC_ENV, fresh_multiprocess_dir
from app.graceful_ws import GRACEFUL_WEBSOCKETS
from app.http_limits import limited_http
from app.logging_setup import configure_logging, log_config, redact
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
    print(banner(settings, f"http://{host}:{port}/"), flush=True)  # noqa: T201
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
    import_cmd.add_argument(
        "--replace",
        action="store_true",
        help="make the file the whole catalogue: products not in it are removed",
    )
    return parser


def _one_line(exc: BaseException) -> str:
    """An exception as one line with nothing secret in it (SQLAlchemy appends the statement
    and its parameters on later lines)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # SQLAlchemy and asyncpg lead with the exception's class: "(module.Error) <class '…'>: …"
    first = re.sub(r"^(?:\([\w.]+\) )?(?:<class '[\w.]+'>: )?", "", first)
    return redact(first) or type(exc).__name__


def import_products(settings: Settings, file: Path, replace: bool) -> int:
    """Check every row, then add or update them all by name in one transaction (with
    `replace`, removing the products not in the file in the same one); nothing on any error.
    Prints one line: what changed, or (on stderr) why nothing did."""
    import asyncio  # noqa: PLC0415

    from db.engine import create_engine  # noqa: PLC0415
    from db.records import CatalogueChanges  # noqa: PLC0415
    from resolvers.catalogue import CatalogueError, load, read  # noqa: PLC0415

    try:
        items = read(file)
    except CatalogueError as exc:
        print(f"reactor-chat: {file}: {exc}; nothing was loaded", file=sys.stderr)  # noqa: T201
        return 1

    async def run(url: str) -> CatalogueChanges:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            return await load(engine, items, replace=replace)
        finally:
            await engine.dispose()

    try:
        url = _migrate(settings)  # blocking, with its own event loop: before ours starts
        changes = asyncio.run(run(url))
    except Exception as exc:  # noqa: BLE001 - any failure is one line, not a traceback
        print(f"reactor-chat: {file}: {_one_line(exc)}; nothing was loaded", file=sys.stderr)  # noqa: T201
        return 1
    print(  # noqa: T201
        f"reactor-chat: {file}: {changes.added} added, {changes.updated} updated,"
        f" {changes.unchanged} unchanged, {changes.removed} removed"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"reactor-chat: configuration error: {line}", file=sys.stderr)  # noqa: T201
        return 2
    # A one-shot command prints its result and nothing else; its failures are that one line.
    configure_logging(settings.server, "ERROR" if args.command == "products" else None)
    if args.command == "migrate":
        _migrate(settings)
        print("reactor-chat: database at the newest revision")  # noqa: T201
    elif args.command == "serve":
        serve(settings, args.host, args.port, args.workers)
    elif args.command == "products":
        return import_products(settings, args.file, args.replace)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

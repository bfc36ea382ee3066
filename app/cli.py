"""`reactor-chat`: serve, migrate, products import."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

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


def serve(settings: Settings, host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn  # noqa: PLC0415

    url = _migrate(settings)
    # Workers load the settings again; the environment carries the embedded database's URL
    # (a generated JWT secret they read from data_dir, where this process kept it).
    os.environ["REACTOR_DATABASE__URL"] = url
    host = host or settings.server.host
    port = port or settings.server.port
    print(f"reactor-chat: serving on http://{host}:{port} (GraphiQL at /graphql)", flush=True)  # noqa: T201
    uvicorn.run(
        "app.asgi:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.server.workers,
        timeout_graceful_shutdown=int(settings.server.shutdown_grace_seconds) or None,
        log_level=settings.server.log_level.lower(),
        ws_ping_interval=20,
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"reactor-chat: configuration error: {line}", file=sys.stderr)  # noqa: T201
        return 2
    if args.command == "migrate":
        _migrate(settings)
        print("reactor-chat: database at the newest revision")  # noqa: T201
    elif args.command == "serve":
        serve(settings, args.host, args.port, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

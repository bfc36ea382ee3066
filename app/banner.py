"""What `reactor-chat serve` prints before it serves: where, on which database, with which
models, in which mode. No secret reaches it: a database URL is shown without its password."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from app.logging_setup import POSTGRES_LOG
from app.settings import Settings
from gateway.config import LOCAL_TARGET, AISettings


def database_line(settings: Settings) -> str:
    if settings.database.url is None:
        data_dir = settings.server.data_dir
        return (
            f"embedded PostgreSQL in {data_dir / 'pgdata'}"
            f" (its output in {data_dir / POSTGRES_LOG})"
        )
    url = make_url(settings.database.url.get_secret_value())
    user = f"{url.username}@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    return f"{user}{url.host or 'localhost'}{port}/{url.database or ''}"


def _providers(ai: AISettings) -> list[str]:
    names = ["openrouter"] if ai.openrouter_configured() else []
    names += ["bedrock"] if ai.bedrock_configured() else []
    return names + sorted(ai.compatible_providers())


def models_line(ai: AISettings) -> str:
    aliases = ", ".join(
        f"{name} (default)" if name == ai.default_alias else name for name in ai.aliases
    )
    providers = _providers(ai)
    if not providers:
        return f"no provider configured: aliases {aliases} all answer with {LOCAL_TARGET}"
    return f"providers {', '.join(providers)}; aliases {aliases}"


def mode_line(settings: Settings) -> str:
    server = settings.server
    if server.environment == "production":
        return "production (no GraphiQL, introspection or field suggestions)"
    graphiql = ", GraphiQL at /graphql" if server.graphiql else ""
    return f"development (chat page at /{graphiql})"


def banner(settings: Settings, url: str) -> str:
    """A few `label  value` lines under the name."""
    rows = [
        ("url", url),
        ("database", database_line(settings)),
        ("models", models_line(settings.ai)),
        ("mode", mode_line(settings)),
    ]
    return "reactor-chat\n" + "\n".join(f"  {label:<9} {value}" for label, value in rows)

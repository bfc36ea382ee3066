"""The process's connection pool: one AsyncEngine, created in the app's lifespan."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection


def async_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the asyncpg driver SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


# An integer of 16 digits or more may not fit orjson's 64 bits, which it would turn into a
# float; such text goes to json, which keeps every digit.
_LONG_NUMBER = re.compile(r"\d{16}")


def json_loads(text: str) -> Any:
    """A json/jsonb column's value: orjson, five times faster than json on a message's
    metadata (a page decodes one per message), except where json's answer could differ (a
    long integer; what orjson refuses, such as a lone surrogate or a number beyond a double)."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A failed statement's error would quote its bound parameters: message text.
        hide_parameters=True,
        json_deserializer=json_loads,
        # Statements are few and fixed; asyncpg's prepared-statement cache does the rest.
        connect_args={"server_settings": {"application_name": "reactor-chat"}},
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """Replace a pooled connection the server has closed, instead of failing the request
    that gets it. asyncpg notices the server's goodbye as it arrives, so this costs no round
    trip, where `pool_pre_ping` would spend one on every checkout (every transaction)."""
    driver = dbapi_connection.driver_connection
    if driver.is_closed():
        # The pool discards the connection and checks out another.
        raise exc.DisconnectionError("the server closed this connection")
    # Transactions are the driver's (db/session.py) and end before their connection returns;
    # one that did not must not lend its role and claims to the next request.
    if driver.is_in_transaction():
        raise exc.DisconnectionError("a transaction was left open on this connection")

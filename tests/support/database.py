"""The PostgreSQL the suite runs against: REACTOR_DATABASE__URL if set, else 127.0.0.1:5432 if
reachable, else an embedded one. Each run gets a database of its own, dropped at the end."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def server_url(tmp: Path) -> str:
    configured = os.environ.get("REACTOR_DATABASE__URL")
    if configured:
        return configured
    if _reachable("127.0.0.1", 5432):
        return "postgresql://root@127.0.0.1:5432/postgres"
    from app.embedded_db import embedded_url

    return embedded_url(tmp)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(server: str) -> str:
    name = f"reactor_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'create database "{name}"'))
    return with_database(server, name)


def drop_database(server: str, url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(server, f'drop database if exists "{name}" with (force)'))

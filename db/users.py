"""Queries on auth.users. Run inside `service_transaction`: no request role may see this table."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import RowMapping, Uuid, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import Credentials, UserRow
from db.tables import users

_PUBLIC = (users.c.id, users.c.email, users.c.created_at)


def _user(row: RowMapping) -> UserRow:
    return UserRow(id=row["id"], email=row["email"], created_at=row["created_at"])


async def create(conn: AsyncConnection, email: str, password_hash: str) -> UserRow | None:
    """The new user; None when the email is taken (no exception, so the transaction lives on)."""
    result = await conn.execute(
        pg_insert(users)
        .values(email=email, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[users.c.email])
        .returning(*_PUBLIC)
    )
    row = result.mappings().one_or_none()
    return _user(row) if row else None


async def credentials(conn: AsyncConnection, email: str) -> Credentials | None:
    result = await conn.execute(
        select(*_PUBLIC, users.c.password_hash).where(users.c.email == email)
    )
    row = result.mappings().one_or_none()
    return Credentials(_user(row), row["password_hash"]) if row else None


# Built once: `me` asks it on every call, and building it cost as much as sending it.
_GET = select(*_PUBLIC).where(users.c.id == bindparam("id", type_=Uuid))


async def get(conn: AsyncConnection, user_id: UUID) -> UserRow | None:
    result = await conn.execute(_GET, {"id": user_id})
    row = result.mappings().one_or_none()
    return _user(row) if row else None


async def set_password_hash(conn: AsyncConnection, user_id: UUID, password_hash: str) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )

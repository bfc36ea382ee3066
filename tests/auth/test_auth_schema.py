"""Schema auth is out of every request role's reach."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import rls_transaction

TABLES = [
    "auth.users",
    "auth.sessions",
    "auth.refresh_tokens",
    "auth.sign_in_failures",
    "auth.sign_up_attempts",
]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_request_roles_cannot_read_auth_tables(
    engine: AsyncEngine, table: str, role: str
) -> None:
    claims = {"sub": str(uuid.uuid4()), "role": role} if role == "authenticated" else None
    with pytest.raises(DBAPIError, match="permission denied"):
        async with rls_transaction(engine, claims) as conn:
            await conn.execute(text(f"select * from {table}"))  # noqa: S608


@pytest.mark.parametrize("role", ["anon", "authenticated", "public"])
async def test_request_roles_have_no_privilege_on_schema_auth(
    engine: AsyncEngine, role: str
) -> None:
    async with engine.connect() as conn:
        usage = (
            await conn.execute(
                text("select has_schema_privilege(:r, 'auth', 'usage')"),
                {"r": role},
            )
        ).scalar_one()
    assert usage is False

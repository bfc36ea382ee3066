"""Transactions that carry a caller's identity into PostgreSQL, where row-level security reads it.

Every request's database work runs inside `rls_transaction`: the JWT claims go into
`request.jwt.claims` and the role becomes `anon` or `authenticated`, both with `is_local`
set, so they end with the transaction and never leak into the next user of a pooled
connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Claims = Mapping[str, Any]

# The only roles a request may become; anything else in a token falls back to anon.
REQUEST_ROLES = frozenset({"anon", "authenticated"})

# One round trip: both settings in one statement. set_config(..., true) is SET LOCAL.
_SET_IDENTITY = text(
    "select set_config('request.jwt.claims', :claims, true), set_config('role', :role, true)"
)


def request_role(claims: Claims | None) -> str:
    role = claims.get("role") if claims else None
    return role if isinstance(role, str) and role in REQUEST_ROLES else "anon"


@asynccontextmanager
async def rls_transaction(
    engine: AsyncEngine, claims: Claims | None
) -> AsyncIterator[AsyncConnection]:
    """A transaction running as the caller: committed on success, rolled back on error."""
    async with engine.begin() as conn:
        await conn.execute(
            _SET_IDENTITY,
            {"claims": json.dumps(dict(claims or {}), default=str), "role": request_role(claims)},
        )
        yield conn


@asynccontextmanager
async def service_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction as the login role, for the few tables no request role may touch (auth)."""
    async with engine.begin() as conn:
        yield conn

"""Transactions that carry a caller's identity into PostgreSQL, where row-level security reads it.

Every request's database work runs inside `rls_transaction`: the JWT claims go into
`request.jwt.claims` and the role becomes `anon` or `authenticated`, both with `is_local`
set, so they end with the transaction and never leak into the next user of a pooled
connection.

The processes' own work runs as the login role (`service_transaction`, for the auth tables),
or as `turn_service` (`turn_service_transaction`, for the durable turns' bookkeeping across
users: heartbeats, ghost sweeps, batched checkpoints), a role the login role may become and
that holds only what that bookkeeping touches (migration 0014), so the login role itself
needs no right on user data.

All of them are a `Transaction`: used as `async with ... as conn` (committed on success,
rolled back on error), or driven by hand with `start()`, `commit()` and `rollback()`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Claims = Mapping[str, Any]

# The only roles a request may become; anything else in a token falls back to anon.
REQUEST_ROLES = frozenset({"anon", "authenticated"})

# What the processes become for the durable turns' bookkeeping (migration 0014).
TURN_SERVICE_ROLE = "turn_service"

# One round trip: both settings in one statement. set_config(..., true) is SET LOCAL.
_SET_IDENTITY = text(
    "select set_config('request.jwt.claims', :claims, true), set_config('role', :role, true)"
)
_SET_ROLE = text("select set_config('role', :role, true)")


def request_role(claims: Claims | None) -> str:
    role = claims.get("role") if claims else None
    return role if isinstance(role, str) and role in REQUEST_ROLES else "anon"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a transaction runs as under row-level security: the claims as JSON, and the role."""

    claims: str
    role: str

    @classmethod
    def of(cls, claims: Claims | None) -> Identity:
        return cls(json.dumps(dict(claims or {}), default=str), request_role(claims))


class Transaction:
    """One transaction on a pooled connection; with an identity, as that caller under RLS.

    An object rather than a context manager alone because a caller may end the transaction
    away from where it began: a chat turn commits in a task of its own while the model's
    request starts, and only needs `rollback()` if a statement fails before that.
    """

    def __init__(
        self, engine: AsyncEngine, identity: Identity | None = None, *, role: str | None = None
    ) -> None:
        """`identity`: as that caller, under RLS; `role` (without one): as that role, with no
        claims; neither: as the login role."""
        if identity is not None and role is not None:
            raise ValueError("a Transaction takes an identity or a role, not both")
        self._engine = engine
        self._identity = identity
        self._role = role
        self._started = False
        # Set while the transaction is open; commit and rollback take it, so each ends it once.
        self._conn: AsyncConnection | None = None

    async def start(self) -> AsyncConnection:
        """Check a connection out, begin, and take on the identity or role if there is one."""
        if self._started:
            raise RuntimeError("a Transaction starts once")
        self._started = True
        conn = await self._engine.connect()
        try:
            await conn.begin()
            if self._identity is not None:
                await conn.execute(
                    _SET_IDENTITY, {"claims": self._identity.claims, "role": self._identity.role}
                )
            elif self._role is not None:
                await conn.execute(_SET_ROLE, {"role": self._role})
        except BaseException:
            await _to_the_end(conn.close())
            raise
        self._conn = conn
        return conn

    async def commit(self) -> None:
        """Commit and return the connection to the pool (also when the commit fails)."""
        conn = self._take()
        if conn is None:
            raise RuntimeError("no transaction in progress to commit")
        try:
            await conn.commit()
        finally:
            await _to_the_end(conn.close())

    async def rollback(self) -> None:
        """Roll back and return the connection to the pool; nothing to do when the transaction
        never started, failed to start or has already ended."""
        conn = self._take()
        if conn is None:
            return
        try:
            await conn.rollback()
        finally:
            await _to_the_end(conn.close())

    def _take(self) -> AsyncConnection | None:
        conn, self._conn = self._conn, None
        return conn

    async def __aenter__(self) -> AsyncConnection:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.commit()
        else:
            await self.rollback()


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to its end even if the caller is cancelled meanwhile, then raise the
    cancellation: a connection abandoned halfway back to the pool is lost to it (as SQLAlchemy
    does when its own `async with` closes a connection)."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():
                raise
            cancelled = exc
        else:
            break
    if cancelled is not None:
        raise cancelled


def rls_transaction(engine: AsyncEngine, claims: Claims | None) -> Transaction:
    """A transaction running as the caller (anon without claims), under row-level security."""
    return Transaction(engine, Identity.of(claims))


def service_transaction(engine: AsyncEngine) -> Transaction:
    """A transaction as the login role, for the few tables no request role may touch (auth)."""
    return Transaction(engine)


def turn_service_transaction(engine: AsyncEngine) -> Transaction:
    """A transaction as `turn_service` (`SET LOCAL ROLE`), for the durable turns' bookkeeping
    across users. The login role must be granted it (docs/deploy.md); a superuser, as in
    development, may become it anyway. Refused (SQLSTATE 42501) when it may not."""
    return Transaction(engine, role=TURN_SERVICE_ROLE)

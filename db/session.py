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

A single read as the login role needs no transaction around it (`service_statement`).

All the others are a `Transaction`: used as `async with ... as conn` (committed on success,
rolled back on error), or driven by hand with `start()`, `commit()` and `rollback()`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Claims = Mapping[str, Any]

# The only roles a request may become; anything else in a token falls back to anon.
REQUEST_ROLES = frozenset({"anon", "authenticated"})

# What the processes become for the durable turns' bookkeeping (migration 0014).
TURN_SERVICE_ROLE = "turn_service"


def _literal(value: str) -> str:
    """`value` as an SQL string constant; an escape string, so the result does not depend on
    the server's standard_conforming_strings. A quote is doubled, not backslashed: a server
    hardened with `backslash_quote = off` refuses `\\'`."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot be sent to PostgreSQL")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _begin(identity: Identity | None, role: str | None) -> str:
    """BEGIN and, with an identity, both settings (with a role alone, the role): one
    simple-protocol message, one round trip. set_config(..., true) is SET LOCAL."""
    if identity is not None:
        claims, becomes = _literal(identity.claims), _literal(identity.role)
        return (
            f"begin; select set_config('request.jwt.claims', {claims}, true),"
            f" set_config('role', {becomes}, true)"
        )
    if role is not None:
        return f"begin; select set_config('role', {_literal(role)}, true)"
    return "begin"


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
        """Check a connection out, begin, and take on the identity or role if there is one.

        The transaction is the driver's, begun with the identity in one round trip; SQLAlchemy
        runs its statements in autocommit mode (no BEGIN of its own) inside it. Where
        SQLAlchemy's would have cost a BEGIN, the settings' statement and a COMMIT, each
        through its execution path, this costs a round trip less and a fraction of the CPU.
        """
        if self._started:
            raise RuntimeError("a Transaction starts once")
        self._started = True
        conn = await self._engine.connect()
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await _run(
                conn, _begin(self._identity, self._role), shown="begin; select set_config(...)"
            )
        except BaseException:
            await _to_the_end(_discard(conn))
            raise
        self._conn = conn
        return conn

    async def commit(self) -> None:
        """Commit and return the connection to the pool (also when the commit fails)."""
        conn = self._take()
        if conn is None:
            raise RuntimeError("no transaction in progress to commit")
        await _to_the_end(_end(conn, "commit"))

    async def rollback(self) -> None:
        """Roll back and return the connection to the pool; nothing to do when the transaction
        never started, failed to start or has already ended."""
        conn = self._take()
        if conn is None:
            return
        await _to_the_end(_end(conn, "rollback"))

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


def driver_of(conn: AsyncConnection) -> Any:
    """The asyncpg connection beneath `conn`."""
    return conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]


async def _end(conn: AsyncConnection, statement: str) -> None:
    """Ends the driver's transaction with `statement` and returns the connection to the pool;
    a connection whose transaction may still be open is discarded instead, never pooled."""
    if statement == "rollback" and conn.invalidated:
        # A statement found the connection dead and SQLAlchemy has discarded it: nothing is
        # left to roll back, and the caller's own error is the one to see.
        await conn.close()
        return
    try:
        await _run(conn, statement)
    except BaseException:
        await _discard(conn)
        raise
    await conn.close()


async def _run(conn: AsyncConnection, statement: str, shown: str | None = None) -> None:
    """`statement` on the driver, its errors raised as SQLAlchemy raises the others', naming
    the statement as `shown` (the claims stay out of error messages and logs)."""
    try:
        await driver_of(conn).execute(statement)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        raise DBAPIError(shown or statement, None, error) from error


async def _discard(conn: AsyncConnection) -> None:
    await conn.invalidate()
    await conn.close()


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


@asynccontextmanager
async def service_statement(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection as the login role for a single statement, which PostgreSQL runs as a
    transaction of its own: no BEGIN or COMMIT round trip around it. For one read of the auth
    tables (`me`); anything that needs two statements to agree takes `service_transaction`."""
    conn = await engine.connect()
    try:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn
    finally:
        await _to_the_end(conn.close())


def turn_service_transaction(engine: AsyncEngine) -> Transaction:
    """A transaction as `turn_service` (`SET LOCAL ROLE`), for the durable turns' bookkeeping
    across users. The login role must be granted it (docs/deploy.md); a superuser, as in
    development, may become it anyway. Refused (SQLSTATE 42501) when it may not."""
    return Transaction(engine, role=TURN_SERVICE_ROLE)

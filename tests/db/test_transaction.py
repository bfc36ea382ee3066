"""The Transaction object driven by hand: start, commit, rollback, and what each leaves behind
on the pool."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from db import conversations
from db.engine import create_engine
from db.session import Identity, Transaction, rls_transaction, service_statement


def claims(user: uuid.UUID) -> dict[str, str]:
    return {"sub": str(user), "role": "authenticated"}


def checked_in(engine: AsyncEngine) -> int:
    """Connections resting in the pool, free for the next checkout."""
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedin()


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A pool of exactly one connection, already opened and checked in."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    async with engine.connect():
        pass
    assert checked_in(engine) == 1
    yield engine
    await engine.dispose()


async def _titles(engine: AsyncEngine, user: uuid.UUID) -> list[str]:
    async with rls_transaction(engine, claims(user)) as conn:
        return [row.title for row in await conversations.page(conn, first=10, after=None)]


async def test_commit_makes_the_rows_visible_to_another_connection(engine: AsyncEngine) -> None:
    alice = uuid.uuid4()
    tx = rls_transaction(engine, claims(alice))
    conn = await tx.start()
    await conversations.create(conn, "committed")
    assert await _titles(engine, alice) == [], "not visible before the commit"
    await tx.commit()
    assert await _titles(engine, alice) == ["committed"]


async def test_rollback_discards_the_rows(engine: AsyncEngine) -> None:
    alice = uuid.uuid4()
    tx = rls_transaction(engine, claims(alice))
    conn = await tx.start()
    await conversations.create(conn, "discarded")
    await tx.rollback()
    assert await _titles(engine, alice) == []


async def test_the_identity_is_set_once_started_and_gone_from_the_pooled_connection_after_commit(
    one_connection: AsyncEngine,
) -> None:
    alice = uuid.uuid4()
    probe = text(
        "select pg_backend_pid() as pid, current_user,"
        " coalesce(current_setting('request.jwt.claims', true), '') as claims"
    )
    tx = rls_transaction(one_connection, claims(alice))
    conn = await tx.start()
    inside = (await conn.execute(probe)).one()
    await tx.commit()
    async with one_connection.connect() as conn:
        after = (await conn.execute(probe)).one()

    assert inside.current_user == "authenticated"
    assert json.loads(inside.claims) == claims(alice)
    assert after.pid == inside.pid, "the test needs the same pooled connection both times"
    assert after.current_user != "authenticated"
    assert after.claims == ""


async def test_a_failed_statement_rolls_back_and_releases_the_connection(
    one_connection: AsyncEngine,
) -> None:
    alice = uuid.uuid4()
    resting_inside = []

    async def failing() -> None:
        async with rls_transaction(one_connection, claims(alice)) as conn:
            await conversations.create(conn, "rolled back")
            resting_inside.append(checked_in(one_connection))
            await conn.execute(text("select 1 / 0"))

    with pytest.raises(DBAPIError, match="division by zero"):
        await failing()
    assert resting_inside == [0]
    assert checked_in(one_connection) == 1
    assert await _titles(one_connection, alice) == []


async def test_rollback_by_hand_after_a_failed_statement_releases_the_connection(
    one_connection: AsyncEngine,
) -> None:
    alice = uuid.uuid4()
    tx = rls_transaction(one_connection, claims(alice))
    conn = await tx.start()
    await conversations.create(conn, "rolled back")
    with pytest.raises(DBAPIError, match="division by zero"):
        await conn.execute(text("select 1 / 0"))
    await tx.rollback()
    await tx.rollback()  # a second rollback is harmless
    assert checked_in(one_connection) == 1
    assert await _titles(one_connection, alice) == []


async def test_a_failed_start_releases_the_connection_and_rollback_is_harmless(
    one_connection: AsyncEngine,
) -> None:
    tx = Transaction(one_connection, Identity(claims="{}", role="no_such_role"))
    with pytest.raises(DBAPIError, match="no_such_role"):
        await tx.start()
    await tx.rollback()
    assert checked_in(one_connection) == 1


async def test_rollback_after_commit_is_harmless_and_keeps_the_rows(engine: AsyncEngine) -> None:
    alice = uuid.uuid4()
    tx = rls_transaction(engine, claims(alice))
    conn = await tx.start()
    await conversations.create(conn, "kept")
    await tx.commit()
    await tx.rollback()
    assert await _titles(engine, alice) == ["kept"]


@pytest.fixture
async def hardened(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A pool whose sessions refuse a backslashed quote in string constants."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _harden(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.run_async(lambda conn: conn.execute("set backslash_quote = off"))

    yield engine
    await engine.dispose()


@pytest.mark.parametrize("server", ["default", "backslash_quote off"])
async def test_claims_reach_postgresql_exactly_whatever_they_hold(
    engine: AsyncEngine, hardened: AsyncEngine, server: str
) -> None:
    """The identity is sent as string constants in the BEGIN's message: quotes, backslashes
    and what looks like SQL stay data, on a server that refuses `\\'` too."""
    if server != "default":
        engine = hardened
    odd = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "email": "o'brien\\\\x@example.com'); reset role; --",
        "name": "\\' \" $$ E'\\n' é",
    }
    async with rls_transaction(engine, odd) as conn:
        seen = await conn.execute(
            text("select current_setting('request.jwt.claims'), current_user")
        )
        settings, role = seen.one()
    assert json.loads(settings) == odd
    assert role == "authenticated"


async def test_a_connection_left_inside_a_transaction_is_never_lent_again(
    one_connection: AsyncEngine,
) -> None:
    async with one_connection.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute("begin; set local role authenticated")
    # The pool took it back with the transaction open; the next checkout must not get it.
    async with rls_transaction(one_connection, None) as conn:
        role = (await conn.execute(text("select current_user"))).scalar_one()
    assert role == "anon"


async def test_a_single_statement_runs_alone_and_leaves_the_connection_pooled(
    one_connection: AsyncEngine,
) -> None:
    """`service_statement` opens no transaction: each statement is one of its own (two see
    different transaction ids), and the connection goes back to the pool, also after an error."""
    async with service_statement(one_connection) as conn:
        first = (await conn.execute(text("select txid_current()"))).scalar_one()
        second = (await conn.execute(text("select txid_current()"))).scalar_one()
    assert first != second
    assert checked_in(one_connection) == 1
    with pytest.raises(DBAPIError):
        async with service_statement(one_connection) as conn:
            await conn.execute(text("select 1/0"))
    assert checked_in(one_connection) == 1
    async with rls_transaction(one_connection, None) as conn:
        assert (await conn.execute(text("select current_user"))).scalar_one() == "anon"

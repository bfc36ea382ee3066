"""Nothing of one request's identity survives on a pooled connection into the next."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import conversations
from db.engine import create_engine
from db.session import rls_transaction, turn_service_transaction


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def test_two_users_on_one_pooled_connection_stay_apart(one_connection: AsyncEngine) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    async with rls_transaction(
        one_connection, {"sub": str(alice), "role": "authenticated"}
    ) as conn:
        pid_alice = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
        await conversations.create(conn, "alice only")
    async with rls_transaction(one_connection, {"sub": str(bob), "role": "authenticated"}) as conn:
        pid_bob = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
        seen = await conversations.page(conn, first=10, after=None)
    assert pid_alice == pid_bob, "the test needs both transactions on the same backend"
    assert seen == []


async def test_identity_and_role_end_with_the_transaction(one_connection: AsyncEngine) -> None:
    async with rls_transaction(
        one_connection, {"sub": str(uuid.uuid4()), "role": "authenticated"}
    ) as conn:
        inside = (await conn.execute(text("select current_user"))).scalar_one()
    async with one_connection.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "select current_user, coalesce(current_setting('request.jwt.claims', true), '') as claims"
                )
            )
        ).one()
    assert inside == "authenticated"
    assert row.current_user != "authenticated"
    assert row.claims == ""


async def test_the_turn_service_role_ends_with_its_transaction(
    one_connection: AsyncEngine,
) -> None:
    async with turn_service_transaction(one_connection) as conn:
        inside = (await conn.execute(text("select current_user"))).scalar_one()
    async with one_connection.connect() as conn:
        after = (await conn.execute(text("select current_user"))).scalar_one()
    assert inside == "turn_service"
    assert after != "turn_service"


async def test_a_failed_transaction_leaves_no_identity_behind(one_connection: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with rls_transaction(
            one_connection, {"sub": str(uuid.uuid4()), "role": "authenticated"}
        ):
            raise RuntimeError("request failed")
    async with one_connection.connect() as conn:
        user = (await conn.execute(text("select current_user"))).scalar_one()
    assert user != "authenticated"

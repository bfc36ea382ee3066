"""Through SQL as `authenticated`: one user's rows are invisible and untouchable to another."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db import conversations, messages
from db.session import rls_transaction


def claims(user: uuid.UUID) -> dict[str, str]:
    return {"sub": str(user), "role": "authenticated"}


@pytest.fixture
async def owned(engine: AsyncEngine) -> tuple[uuid.UUID, uuid.UUID]:
    """User A and a conversation of theirs with one message."""
    alice = uuid.uuid4()
    async with rls_transaction(engine, claims(alice)) as conn:
        row = await conversations.create(conn, "alice's")
        await messages.add(conn, row.id, "user", "a secret")
    return alice, row.id


async def test_owner_column_defaults_to_the_tokens_subject(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    alice, conversation_id = owned
    async with rls_transaction(engine, claims(alice)) as conn:
        row = await conversations.get(conn, conversation_id)
    assert row is not None
    assert row.user_id == alice


async def test_other_user_sees_no_conversation_nor_message(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, conversation_id = owned
    async with rls_transaction(engine, claims(uuid.uuid4())) as conn:
        assert await conversations.get(conn, conversation_id) is None
        count = await conn.execute(
            text("select count(*) from messages where conversation_id = :c"), {"c": conversation_id}
        )
        assert count.scalar_one() == 0
        assert await messages.newest(conn, [conversation_id], last=50, before=None) == {
            conversation_id: []
        }


async def test_other_user_cannot_rename_or_delete(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    alice, conversation_id = owned
    async with rls_transaction(engine, claims(uuid.uuid4())) as conn:
        assert await conversations.rename(conn, conversation_id, "mine now") is None
        assert await conversations.delete_one(conn, conversation_id) is False
    async with rls_transaction(engine, claims(alice)) as conn:
        row = await conversations.get(conn, conversation_id)
    assert row is not None
    assert row.title == "alice's"


async def test_other_user_cannot_add_a_message(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, conversation_id = owned
    with pytest.raises(DBAPIError, match="row-level security"):
        async with rls_transaction(engine, claims(uuid.uuid4())) as conn:
            await messages.add(conn, conversation_id, "user", "injected")


async def test_a_conversation_cannot_be_created_for_someone_else(engine: AsyncEngine) -> None:
    with pytest.raises(DBAPIError, match="row-level security"):
        async with rls_transaction(engine, claims(uuid.uuid4())) as conn:
            await conn.execute(
                text("insert into conversations (user_id, title) values (:u, 'planted')"),
                {"u": uuid.uuid4()},
            )


async def test_anonymous_requests_see_nothing(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with rls_transaction(engine, None) as conn:
            await conn.execute(text("select count(*) from conversations"))


async def test_the_tables_owner_is_held_by_the_policies_too(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """FORCE ROW LEVEL SECURITY: an owner that is not a superuser reads nothing without claims.

    Everything happens in one transaction that is rolled back: DDL included.
    """
    async with engine.connect() as conn:
        transaction = await conn.begin()
        probe = f"owner_probe_{uuid.uuid4().hex[:8]}"
        await conn.execute(text(f"create role {probe} nologin"))
        await conn.execute(text(f"alter table conversations owner to {probe}"))
        await conn.execute(text(f"set local role {probe}"))
        visible = (await conn.execute(text("select count(*) from conversations"))).scalar_one()
        await transaction.rollback()
    assert visible == 0


async def test_adding_a_message_bumps_updated_at(
    engine: AsyncEngine, owned: tuple[uuid.UUID, uuid.UUID]
) -> None:
    alice, conversation_id = owned
    async with rls_transaction(engine, claims(alice)) as conn:
        before = await conversations.get(conn, conversation_id)
    async with rls_transaction(engine, claims(alice)) as conn:
        await messages.add(conn, conversation_id, "assistant", "later")
        after = await conversations.get(conn, conversation_id)
    assert before is not None
    assert after is not None
    assert after.updated_at > before.updated_at

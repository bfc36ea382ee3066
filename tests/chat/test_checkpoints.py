"""The batched checkpoint statement writes only what a checkpoint may: the streaming replies of
this process's turns, each for its own user. A finished reply, one deleted mid-turn, another
process's and anyone else's are left as they are."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import conversations as conversation_queries
from db import turns as turn_queries
from db.session import rls_transaction, service_transaction


def _claims(user: uuid.UUID) -> dict[str, str]:
    return {"sub": str(user), "role": "authenticated"}


async def _open(engine: AsyncEngine, user: uuid.UUID, process: uuid.UUID) -> uuid.UUID:
    """A turn in flight of `process` for `user`: its reply's id."""
    async with rls_transaction(engine, _claims(user)) as conn:
        conversation = await conversation_queries.create(conn, "checkpoints")
        _history, reply = await turn_queries.open_turn(
            conn,
            conversation.id,
            "hello",
            per_hour=1000,
            history_limit=10,
            max_in_flight=10,
            process=process,
        )
    return reply.id


async def _content(engine: AsyncEngine, reply: uuid.UUID) -> str | None:
    async with service_transaction(engine) as conn:
        result = await conn.execute(
            text("select content from messages where id = :id"), {"id": reply}
        )
        return result.scalar_one_or_none()


async def _checkpoint(
    engine: AsyncEngine, process: uuid.UUID, rows: list[tuple[uuid.UUID, uuid.UUID, str]]
) -> set[uuid.UUID]:
    async with service_transaction(engine) as conn:
        return await turn_queries.checkpoint_many(conn, process, rows)


async def test_one_statement_checkpoints_every_streaming_reply_of_the_process(
    engine: AsyncEngine,
) -> None:
    process = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(3)]
    replies = [await _open(engine, user, process) for user in users]
    rows = [
        (reply, user, f"so far {i}")
        for i, (reply, user) in enumerate(zip(replies, users, strict=True))
    ]
    assert await _checkpoint(engine, process, rows) == set(replies)
    for i, reply in enumerate(replies):
        assert await _content(engine, reply) == f"so far {i}"
    assert await _checkpoint(engine, process, []) == set()


async def test_a_finished_reply_is_never_written(engine: AsyncEngine) -> None:
    process, user = uuid.uuid4(), uuid.uuid4()
    reply = await _open(engine, user, process)
    async with rls_transaction(engine, _claims(user)) as conn:
        await turn_queries.finish(
            conn, reply, content="the whole reply", status="complete", metadata={}, move_last=False
        )
    assert await _checkpoint(engine, process, [(reply, user, "the whole")]) == set()
    assert await _content(engine, reply) == "the whole reply"


async def test_a_reply_deleted_mid_turn_is_not_resurrected(engine: AsyncEngine) -> None:
    process, user = uuid.uuid4(), uuid.uuid4()
    reply = await _open(engine, user, process)
    async with rls_transaction(engine, _claims(user)) as conn:
        conversation = (await turn_queries.message(conn, reply)).conversation_id  # type: ignore[union-attr]
        assert await conversation_queries.delete_one(conn, conversation)
    assert await _checkpoint(engine, process, [(reply, user, "so far")]) == set()
    assert await _content(engine, reply) is None


async def test_another_users_or_processs_reply_is_never_written(engine: AsyncEngine) -> None:
    process, user = uuid.uuid4(), uuid.uuid4()
    reply = await _open(engine, user, process)
    other_process = uuid.uuid4()
    theirs = await _open(engine, uuid.uuid4(), other_process)
    written = await _checkpoint(
        engine,
        process,
        [(reply, uuid.uuid4(), "not its user"), (theirs, user, "not its user either")],
    )
    assert written == set()
    written = await _checkpoint(engine, other_process, [(reply, user, "not this process's")])
    assert written == set()
    assert await _content(engine, reply) == ""
    assert await _content(engine, theirs) == ""

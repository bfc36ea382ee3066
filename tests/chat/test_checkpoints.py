"""The batched checkpoint statement writes only what a checkpoint may: the streaming replies of
this process's turns, each for its own user. A finished reply, one deleted mid-turn, another
process's and anyone else's are left as they are. Where the login role may not write replies
(a login role not granted `turn_service`), replies are still checkpointed, each as its user."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from db import conversations as conversation_queries
from db import turns as turn_queries
from db.session import rls_transaction, service_transaction, turn_service_transaction
from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import reply_to
from tests.chat.test_chat_interruptions import eventually
from tests.chat.ws_client import CHAT, GraphQLWebSocket
from tests.support.graphql import gql
from tests.support.server import ServerThread


def _claims(user: uuid.UUID) -> dict[str, str]:
    return {"sub": str(user), "role": "authenticated"}


async def _open(engine: AsyncEngine, user: uuid.UUID, process: uuid.UUID) -> uuid.UUID:
    """A turn in flight of `process` for `user`: its reply's id. The process beats, so that a
    live server's sweep does not take its turns for a dead process's."""
    async with turn_service_transaction(engine) as conn:
        await turn_queries.heartbeat(conn, process)
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
    async with turn_service_transaction(engine) as conn:
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


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _as_superuser(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _beat_for(url: str, process: uuid.UUID, lasting: timedelta | None) -> None:
    """A heartbeat of `process` that holds for `lasting`; None: none."""
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute("delete from turn_processes where id = $1", process)
        if lasting is not None:
            await conn.execute(
                "insert into turn_processes (id, heartbeat_at) values ($1, now() + $2)",
                process,
                lasting,
            )
    finally:
        await conn.close()


@pytest.fixture
def login_role_server(chat_settings: Settings, database_url: str) -> Iterator[ServerThread]:
    """The chat app served through a login role not granted `turn_service`, so refused every
    table of replies (docs/deploy.md before migration 0014)."""
    role = f"reactor_app_{uuid.uuid4().hex[:8]}"
    database = make_url(database_url).database
    grants = (
        f"create role {role} login noinherit nobypassrls",
        f"grant anon, authenticated to {role}",
        f'grant connect on database "{database}" to {role}',
        f"grant usage on schema public, auth to {role}",
        f"grant select on alembic_version to {role}",
    )
    asyncio.run(_as_superuser(database_url, *grants))
    url = make_url(database_url).set(username=role, password=None)
    settings = chat_settings.model_copy(
        update={
            "database": chat_settings.database.model_copy(
                update={"url": SecretStr(url.render_as_string(hide_password=False))}
            )
        }
    )
    app = create_app(settings)
    try:
        with ServerThread(app) as thread:
            # It may not beat itself: a heartbeat that lasts the test, so that the other
            # servers of this session do not sweep its turns as a dead process's.
            process = app.state.services.process_id
            asyncio.run(_beat_for(database_url, process, timedelta(hours=1)))
            try:
                yield thread
            finally:
                asyncio.run(_beat_for(database_url, process, None))
    finally:
        asyncio.run(
            _as_superuser(database_url, f"drop owned by {role}", f"drop role if exists {role}")
        )


async def test_a_login_role_refused_the_batch_still_checkpoints_each_reply(
    login_role_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="reactor.chat")
    async with httpx.AsyncClient(base_url=login_role_server.url, timeout=60) as http:
        made = await gql(http, "mutation { createConversation { id } }", token=token)
    conversation_id = uuid.UUID(made["data"]["createConversation"]["id"])
    message = unique("take your time " * 3)
    variables = {"conversationId": str(conversation_id), "message": message, "model": "slow"}
    saved = ""
    async with GraphQLWebSocket(login_role_server.url, token) as ws:
        op_id = await ws.start(CHAT, variables)
        received = ""
        async for data in ws.results(op_id):
            received += data["chat"].get("text") or ""

            async def checkpointed() -> str:
                rows = await saved_messages(engine, user_id, conversation_id)
                return rows[1]["content"] if rows[1]["status"] == "streaming" else ""

            if len(received) > 30:
                saved = await eventually(checkpointed, 3)
                break
    assert saved, "no checkpoint while the reply streamed"
    assert reply_to(message).startswith(saved)
    assert len(saved) < len(reply_to(message))
    assert "the login role may not become turn_service" in caplog.text

"""The production role layout of docs/deploy.md, run for real: an owner that migrates, and a
`noinherit` login role for the replicas that can only become anon/authenticated/turn_service
and reach the auth tables. The whole product works through it, the processes' turn
bookkeeping included (heartbeats, ghost sweeps, batched checkpoints), and the login role alone
reads nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.asgi import create_app
from app.migrations import upgrade
from app.settings import Settings
from tests.ops.serving import CHECKOUT
from tests.support.database import server_url, with_database
from tests.support.graphql import gql
from tests.support.server import ServerThread


@dataclass(frozen=True)
class Layout:
    owner_url: str
    app_url: str
    # The superuser's, for setting up what the test needs behind the roles' backs.
    admin_url: str


def _as(url: str, user: str) -> str:
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _run(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def layout(settings: Settings) -> Iterator[Layout]:
    server = server_url(settings.server.data_dir)
    suffix = uuid.uuid4().hex[:8]
    owner, app, database = (
        f"reactor_owner_{suffix}",
        f"reactor_app_{suffix}",
        f"reactor_prod_{suffix}",
    )
    # As a superuser, once (docs/deploy.md).
    asyncio.run(
        _run(
            server,
            f"create role {owner} login createrole",
            f'create database "{database}" owner {owner}',
        )
    )
    owner_url = _as(with_database(server, database), owner)
    try:
        upgrade(owner_url)
        asyncio.run(
            _run(
                with_database(server, database),
                f"create role {app} login noinherit nobypassrls",
                f"grant anon, authenticated to {app}",
                f"grant turn_service to {app}",
                f'grant connect on database "{database}" to {app}',
                f"grant usage on schema public, auth to {app}",
                f"grant select on alembic_version to {app}",
                f"grant select, insert, update, delete on all tables in schema auth to {app}",
                f"grant usage, select on all sequences in schema auth to {app}",
            )
        )
        yield Layout(
            owner_url=owner_url,
            app_url=_as(with_database(server, database), app),
            admin_url=with_database(server, database),
        )
    finally:
        asyncio.run(
            _run(
                server,
                f'drop database if exists "{database}" with (force)',
                f"drop role if exists {app}",
                f"drop role if exists {owner}",
            )
        )


@pytest.fixture(scope="module")
async def served(settings: Settings, layout: Layout) -> AsyncIterator[httpx.AsyncClient]:
    database = settings.database.model_copy(update={"url": SecretStr(layout.app_url)})
    with ServerThread(create_app(settings.model_copy(update={"database": database}))) as thread:
        async with httpx.AsyncClient(base_url=thread.url, timeout=30) as client:
            yield client


def test_serve_at_head_needs_no_ddl_rights(layout: Layout) -> None:
    """`reactor-chat serve` migrates first: at head, that only reads alembic_version."""
    upgrade(layout.app_url)


async def test_the_product_works_through_the_login_role(served: httpx.AsyncClient) -> None:
    assert (await served.get("/readyz")).status_code == 200
    signed_up = await gql(
        served,
        'mutation($e: String!) { signUp(email: $e, password: "correct horse battery") { accessToken } }',
        {"e": f"{uuid.uuid4().hex[:10]}@example.com"},
    )
    token = signed_up["data"]["signUp"]["accessToken"]
    made = await gql(served, 'mutation { createConversation(title: "prod") { id } }', token=token)
    conversation = made["data"]["createConversation"]["id"]
    sent = await gql(
        served,
        'mutation($c: UUID!) { sendMessage(conversationId: $c, message: "hello there") { role content } }',
        {"c": conversation},
        token=token,
    )
    assert sent["data"]["sendMessage"] == {"role": "ASSISTANT", "content": "Echo: hello there"}
    listed = await gql(served, "{ conversations { edges { node { id } } } }", token=token)
    assert [e["node"]["id"] for e in listed["data"]["conversations"]["edges"]] == [conversation]


def _slow_settings(settings: Settings, layout: Layout) -> Settings:
    """Served through the login role, replies streaming slowly enough to be checkpointed."""
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": SecretStr(layout.app_url)}),
            "ai": settings.ai.model_copy(update={"local_delay_ms": 20}),
            "chat": settings.chat.model_copy(update={"checkpoint_interval": 0.05}),
        }
    )


async def _ghost(layout: Layout) -> tuple[uuid.UUID, uuid.UUID]:
    """A turn left streaming by a process that stopped beating a minute ago: (its process,
    its reply)."""
    conn = await asyncpg.connect(_plain(layout.admin_url))
    try:
        process, user = uuid.uuid4(), uuid.uuid4()
        conversation = await conn.fetchval(
            "insert into conversations (user_id, title) values ($1, 'ghost') returning id", user
        )
        reply = await conn.fetchval(
            "insert into messages (conversation_id, role, content, status)"
            " values ($1, 'assistant', 'cut sho', 'streaming') returning id",
            conversation,
        )
        await conn.execute(
            "insert into turn_processes (id, heartbeat_at) values ($1, now() - interval '1 minute')",
            process,
        )
        await conn.execute(
            "insert into chat_turns (user_id, process_id, reply_id) values ($1, $2, $3)",
            user,
            process,
            reply,
        )
        return process, reply
    finally:
        await conn.close()


async def test_the_login_role_keeps_the_books_of_turns(settings: Settings, layout: Layout) -> None:
    """Heartbeat, ghost sweep at start-up and batched checkpoints, all as `reactor_app`."""
    dead_process, ghost_reply = await _ghost(layout)
    app = create_app(_slow_settings(settings, layout))
    with ServerThread(app) as thread:
        services = app.state.services
        admin = await asyncpg.connect(_plain(layout.admin_url))
        try:
            beats = await admin.fetchval(
                "select count(*) from turn_processes where id = $1", services.process_id
            )
            swept = await admin.fetchrow(
                "select status, content, metadata->>'finish_reason' as reason from messages"
                " where id = $1",
                ghost_reply,
            )
            turns_left = await admin.fetchval(
                "select count(*) from chat_turns where process_id = $1", dead_process
            )
        finally:
            await admin.close()
        assert beats == 1, "the process's heartbeat was not written"
        assert (swept["status"], swept["content"], swept["reason"]) == (
            "incomplete",
            "cut sho",
            "interrupted",
        )
        assert turns_left == 0

        async with httpx.AsyncClient(base_url=thread.url, timeout=60) as client:
            signed_up = await gql(
                client,
                'mutation($e: String!) { signUp(email: $e, password: "correct horse battery") { accessToken } }',
                {"e": f"{uuid.uuid4().hex[:10]}@example.com"},
            )
            token = signed_up["data"]["signUp"]["accessToken"]
            made = await gql(client, "mutation { createConversation { id } }", token=token)
            message = " ".join(f"word{i}" for i in range(60))
            sent = await gql(
                client,
                "mutation($c: UUID!, $m: String!) { sendMessage(conversationId: $c, message: $m) { content } }",
                {"c": made["data"]["createConversation"]["id"], "m": message},
                token=token,
            )
        assert sent["data"]["sendMessage"] == {"content": f"Echo: {message}"}
        checkpoints = services.checkpoints
        assert checkpoints.statements > 0, "the reply was never checkpointed"
        assert checkpoints.batched, "the login role was refused the batched checkpoint"


async def test_the_login_role_alone_reads_no_user_data(layout: Layout) -> None:
    conn = await asyncpg.connect(_plain(layout.app_url))
    try:
        for table in ("conversations", "messages", "products", "chat_turns", "turn_processes"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"select * from {table}")  # noqa: S608 - fixed names
    finally:
        await conn.close()


async def test_turn_service_reads_no_conversation(layout: Layout) -> None:
    """`turn_service` reads `conversations` only for the messages policy's subquery, and
    `conversations_owner` shows it no row."""
    await _ghost(layout)
    conn = await asyncpg.connect(_plain(layout.app_url))
    try:
        async with conn.transaction():
            await conn.execute("set local role turn_service")
            assert await conn.fetch("select id, user_id from conversations") == []
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("select title from conversations")
    finally:
        await conn.close()


async def test_the_login_role_cannot_become_the_owner(layout: Layout) -> None:
    owner = make_url(layout.owner_url).username
    conn = await asyncpg.connect(_plain(layout.app_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"set role {owner}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("set role postgres")
    finally:
        await conn.close()


def test_the_owner_imports_the_catalogue_under_forced_rls(layout: Layout, tmp_path: Path) -> None:
    # docs/deploy.md: `reactor-chat products import` runs as the owner, who is not a superuser.
    file = tmp_path / "catalogue.csv"
    file.write_text("name,price\nOwner lamp,3\nOwner mug,\n", encoding="utf-8")
    (tmp_path / "Reactor.toml").write_text("", encoding="utf-8")
    for replace in ((), ("--replace",)):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "products", "import", *replace, str(file)],
            cwd=CHECKOUT,
            env={
                **os.environ,
                "REACTOR_CONFIG": str(tmp_path / "Reactor.toml"),
                "REACTOR_DATABASE__URL": layout.owner_url,
                "REACTOR_SERVER__DATA_DIR": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout == f"reactor-chat: {file}: 0 added, 0 updated, 2 unchanged, 0 removed\n"
    assert asyncio.run(_count_products(layout.owner_url)) == 2


async def _count_products(url: str) -> int:
    conn = await asyncpg.connect(_plain(url))
    try:
        return int(await conn.fetchval("select count(*) from products"))
    finally:
        await conn.close()

"""/ai/v1's admission, one statement per call (migration 0017): the hourly limit stays exact
under concurrency across replicas, every call gives its turn back, and the functions that take
an identity are the login role's alone and act only for the identity they are given."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from db import completion_calls
from db.errors import MessageLimitReached, TurnsInFlightReached
from db.session import Identity, rls_transaction
from tests.support.graphql import mint_token
from tests.support.server import ServerThread


@pytest.fixture(scope="module")
def replica(chat_settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(create_app(chat_settings)) as thread:
        yield thread


async def _count(engine: AsyncEngine, table: str, user_id: uuid.UUID) -> int:
    # As the login role (the test database's superuser): every user's rows.
    async with engine.connect() as conn:
        result = await conn.execute(
            text(f"select count(*) from {table} where user_id = :u"),  # noqa: S608 - fixed names
            {"u": user_id},
        )
        count: int = result.scalar_one()
    return count


def _identity(user_id: uuid.UUID) -> Identity:
    return Identity.of({"sub": str(user_id), "role": "authenticated"})


async def test_100_concurrent_calls_against_a_limit_of_60_admit_exactly_60(
    chat_server: ServerThread, replica: ServerThread, chat_settings: Settings, engine: AsyncEngine
) -> None:
    limit = chat_settings.chat.max_messages_per_hour
    assert limit == 60
    user_id = uuid.uuid4()
    headers = {"Authorization": f"Bearer {mint_token(user_id)}"}
    body = {"model": "text", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        httpx.AsyncClient(base_url=chat_server.url, timeout=120) as first,
        httpx.AsyncClient(base_url=replica.url, timeout=120) as second,
    ):
        responses = await asyncio.gather(
            *(
                (first, second)[n % 2].post("/ai/v1/chat/completions", json=body, headers=headers)
                for n in range(100)
            )
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == limit
    assert statuses.count(429) == 100 - limit
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # Counted once each, refusals not at all; every call gave its turn back.
    assert await _count(engine, "message_ledger", user_id) == limit
    assert await _count(engine, "chat_turns", user_id) == 0


@pytest.fixture(scope="module")
def one_at_a_time(chat_settings: Settings) -> Iterator[tuple[ServerThread, ServerThread]]:
    """Two processes' apps on one database, each caller allowed one call in flight."""
    chat = chat_settings.chat.model_copy(update={"max_turns_in_flight": 1})
    settings = chat_settings.model_copy(update={"chat": chat})
    with ServerThread(create_app(settings)) as first, ServerThread(create_app(settings)) as second:
        yield first, second


@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_at_its_cap_calling_again_at_once_is_admitted_by_any_process(
    one_at_a_time: tuple[ServerThread, ServerThread], engine: AsyncEngine, stream: bool
) -> None:
    """A call's turn is given back before its answer (or its stream's `[DONE]`) is out, so
    the caller's next call, sent the moment it has it and to whichever process, is never
    refused for a turn already over."""
    user_id = uuid.uuid4()
    headers = {"Authorization": f"Bearer {mint_token(user_id)}"}
    body = {"model": "text", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    statuses = []
    first, second = one_at_a_time
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=60) as one,
        httpx.AsyncClient(base_url=second.url, timeout=60) as other,
    ):
        for http in (one, other, one, other):  # connections open: each call goes out at once
            await http.get("/healthz")
        for n in range(50):  # within the hourly allowance
            http = (one, other)[n % 2]
            async with http.stream(
                "POST", "/ai/v1/chat/completions", json=body, headers=headers
            ) as response:
                async for line in response.aiter_lines():
                    if line == "data: [DONE]":
                        break  # as the OpenAI SDK does: nothing after [DONE] is read
                statuses.append(response.status_code)
    assert statuses == [200] * 50
    assert await _count(engine, "chat_turns", user_id) == 0


async def test_a_streamed_call_holds_its_turn_until_it_ends(
    chat_server: ServerThread, engine: AsyncEngine
) -> None:
    user_id = uuid.uuid4()
    headers = {"Authorization": f"Bearer {mint_token(user_id)}"}
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with (
        httpx.AsyncClient(base_url=chat_server.url, timeout=60) as http,
        http.stream("POST", "/ai/v1/chat/completions", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert (await anext(lines)).startswith("data: ")
        assert await _count(engine, "chat_turns", user_id) == 1
        rest = [line async for line in lines]
    assert "data: [DONE]" in rest
    assert await _count(engine, "chat_turns", user_id) == 0


async def test_the_caps_refuse_and_record_nothing(engine: AsyncEngine) -> None:
    user_id = uuid.uuid4()
    identity = _identity(user_id)
    process = uuid.uuid4()
    turn = await completion_calls.admit(
        engine, identity, per_hour=60, max_in_flight=1, process=process
    )
    with pytest.raises(TurnsInFlightReached):
        await completion_calls.admit(
            engine, identity, per_hour=60, max_in_flight=1, process=process
        )
    await completion_calls.end(engine, identity, turn)
    with pytest.raises(MessageLimitReached):
        await completion_calls.admit(engine, identity, per_hour=1, max_in_flight=1, process=process)
    assert await _count(engine, "message_ledger", user_id) == 1
    assert await _count(engine, "chat_turns", user_id) == 0


async def test_ending_acts_only_for_the_identity_given(engine: AsyncEngine) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    turn = await completion_calls.admit(
        engine, _identity(owner), per_hour=60, max_in_flight=4, process=uuid.uuid4()
    )
    # Row-level security hides the owner's turn from anyone else.
    await completion_calls.end(engine, _identity(other), turn)
    assert await _count(engine, "chat_turns", owner) == 1
    await completion_calls.end(engine, _identity(owner), turn)
    assert await _count(engine, "chat_turns", owner) == 0


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_a_request_role_cannot_choose_its_identity(engine: AsyncEngine, role: str) -> None:
    victim = _identity(uuid.uuid4())
    with pytest.raises(DBAPIError) as refused:
        async with rls_transaction(engine, {"sub": str(uuid.uuid4()), "role": role}) as conn:
            await conn.execute(
                text("select admit_completion(:claims, :role, 60, 4, gen_random_uuid())"),
                {"claims": victim.claims, "role": victim.role},
            )
    assert getattr(refused.value.orig, "sqlstate", None) == "42501"


async def test_only_a_request_role_can_be_taken_on(engine: AsyncEngine) -> None:
    identity = Identity(claims=_identity(uuid.uuid4()).claims, role="postgres")
    with pytest.raises(asyncpg.PostgresError) as refused:
        await completion_calls.admit(
            engine, identity, per_hour=60, max_in_flight=4, process=uuid.uuid4()
        )
    assert refused.value.sqlstate == "22023"

"""Nothing is lost: a client leaving mid-stream or a failing provider still leaves the user
message and the partial reply saved, and the upstream request closed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import STALL_CHUNKS, FakeProvider, reply_to
from tests.chat.ws_client import (
    CHAT,
    LEGACY_WS,
    TRANSPORT_WS,
    GraphQLWebSocket,
    SubscriptionError,
)
from tests.support.server import ServerThread

PARTIAL = "".join(STALL_CHUNKS)


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 15) -> Any:
    """Poll until `check` returns something truthy; the last value otherwise."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        value = await check()
        if value or loop.time() > end:
            return value
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("how", ["complete", "disconnect"])
async def test_leaving_mid_stream_only_detaches_and_the_reply_is_saved_whole(
    chat_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    protocol: str,
    how: str,
) -> None:
    message = unique("tell me a long story")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "slow"}
    async with GraphQLWebSocket(chat_server.url, token, protocol) as ws:
        op_id = await ws.start(CHAT, variables)
        received = []
        async for data in ws.results(op_id):
            received.append(data["chat"])
            if len(received) == 3:
                break
        assert [e["__typename"] for e in received] == ["ChatStarted", "TextDelta", "TextDelta"]
        if how == "complete":
            await ws.stop(op_id)
            # The connection stays usable after the operation is stopped.
            await ws.send({"type": "ping"} if protocol == TRANSPORT_WS else {"type": "ka"})
        else:
            await ws.close()
    assert not fake_provider.finished(message)

    async def saved() -> list[dict[str, Any]]:
        rows = await saved_messages(engine, user_id, conversation_id)
        return rows if len(rows) == 2 and rows[1]["status"] == "complete" else []

    rows = await eventually(saved)
    assert [(r["role"], r["content"]) for r in rows] == [
        ("user", message),
        ("assistant", reply_to(message)),
    ]
    assert rows[1]["metadata"]["finish_reason"] == "stop"
    assert rows[1]["metadata"]["target"] == "fake/slow"
    # The provider's stream was read to its end, not closed when the client left.
    assert fake_provider.finished(message)


async def _turn_until_error(
    url: str, token: str, variables: dict[str, Any]
) -> tuple[list[dict[str, Any]], SubscriptionError]:
    events: list[dict[str, Any]] = []

    async def collect(ws: GraphQLWebSocket, op_id: str) -> None:
        async for data in ws.results(op_id):
            events.append(data["chat"])

    async with GraphQLWebSocket(url, token) as ws:
        op_id = await ws.start(CHAT, variables)
        with pytest.raises(SubscriptionError) as caught:
            await collect(ws, op_id)
    return events, caught.value


async def test_a_provider_failing_before_any_text_keeps_the_user_message(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("hello?")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "fail"}
    events, error = await _turn_until_error(chat_server.url, token, variables)
    assert [e["__typename"] for e in events] == ["ChatStarted"]
    assert error.codes == ["UPSTREAM_ERROR"]
    assert "boom" not in str(error.errors)
    # A turn cut before any text still leaves its reply row, incomplete and empty.
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(r["role"], r["content"], r["status"]) for r in rows] == [
        ("user", message, "complete"),
        ("assistant", "", "incomplete"),
    ]
    assert rows[1]["metadata"]["finish_reason"] == "error"


async def test_a_provider_failing_mid_stream_keeps_the_partial_reply(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("hello?")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "broken"}
    events, error = await _turn_until_error(chat_server.url, token, variables)
    assert [e["__typename"] for e in events] == ["ChatStarted", "TextDelta", "TextDelta"]
    assert error.codes == ["UPSTREAM_ERROR"]
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [(r["role"], r["content"]) for r in rows] == [("user", message), ("assistant", PARTIAL)]
    assert rows[1]["status"] == "incomplete"
    assert rows[1]["metadata"]["incomplete"] is True
    assert rows[1]["metadata"]["reason"] == "upstream_error"
    assert rows[1]["metadata"]["finish_reason"] == "error"


@pytest.fixture
async def failing_commit(engine: AsyncEngine) -> AsyncIterator[str]:
    """A user message whose transaction fails at COMMIT: a deferred constraint trigger
    refuses it only then, after every statement of the transaction has succeeded."""
    marker = unique("fail at commit")
    statements = [
        f"""create function test_fail_at_commit() returns trigger language plpgsql as $$
            begin
              if new.content = '{marker}' then
                raise exception 'refused at commit';
              end if;
              return null;
            end $$""",
        """create constraint trigger test_fail_at_commit after insert on messages
            deferrable initially deferred for each row
            execute function test_fail_at_commit()""",
    ]
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    try:
        yield marker
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("drop trigger test_fail_at_commit on messages"))
            await conn.execute(text("drop function test_fail_at_commit()"))


async def test_a_user_message_failing_at_commit_ends_the_turn_before_anything_is_sent(
    chat_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    failing_commit: str,
) -> None:
    """The model's request starts while the user message commits; if the commit fails, no
    event reaches the client, the request is closed, and nothing is saved."""
    variables = {
        "conversationId": str(conversation_id),
        "message": failing_commit,
        "model": "stall",
    }
    events, error = await _turn_until_error(chat_server.url, token, variables)
    assert events == []
    assert error.codes == ["INTERNAL_SERVER_ERROR"]
    assert "refused at commit" not in str(error.errors)

    async def closed() -> bool:
        return fake_provider.was_closed(failing_commit)

    assert await eventually(closed)
    assert await saved_messages(engine, user_id, conversation_id) == []

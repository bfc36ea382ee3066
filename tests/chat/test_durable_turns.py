"""A turn belongs to its conversation, not to a connection: it is rejoined after a reload,
stopped on request, saved as it grows and saved whole whatever its clients do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import DIRTY_CHUNKS, LONG_CHUNKS, STALL_CHUNKS, FakeProvider, reply_to
from tests.chat.test_chat_interruptions import eventually
from tests.chat.ws_client import (
    CHAT,
    CONVERSATION_EVENTS,
    LEGACY_WS,
    RESUME,
    TRANSPORT_WS,
    GraphQLWebSocket,
    SubscriptionError,
)
from tests.support.graphql import gql, mint_token
from tests.support.server import ServerThread

STOP = "mutation($id: UUID!) { stopChat(replyId: $id) { id status content } }"


async def _first_events(
    ws: GraphQLWebSocket, op_id: str, count: int, key: str = "chat"
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for data in ws.results(op_id):
        events.append(data[key])
        if len(events) == count:
            break
    return events


async def _all_events(ws: GraphQLWebSocket, op_id: str, key: str) -> list[dict[str, Any]]:
    return [data[key] async for data in ws.results(op_id)]


def _text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["__typename"] in ("TextSnapshot", "TextDelta"))


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_reload_mid_reply_rejoins_it_exactly(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    protocol: str,
) -> None:
    message = unique("a story please")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "slow"}
    async with GraphQLWebSocket(chat_server.url, token, protocol) as ws:
        started, *_ = await _first_events(ws, await ws.start(CHAT, variables), 3)
    reply_id = started["replyId"]
    # The page reloads: a new connection rejoins the reply still being written.
    async with GraphQLWebSocket(chat_server.url, token, protocol) as ws:
        events = await _all_events(ws, await ws.start(RESUME, {"replyId": reply_id}), "resumeChat")
    kinds = [e["__typename"] for e in events]
    assert kinds[0] == "TextSnapshot"
    assert kinds[-1] == "ChatCompleted"
    assert set(kinds[1:-1]) <= {"TextDelta"}
    assert len(kinds) > 2, "the reply was still streaming when rejoined"
    completed = events[-1]["message"]
    assert completed["status"] == "COMPLETE"
    rows = await saved_messages(engine, user_id, conversation_id)
    assert _text_of(events) == completed["content"] == rows[1]["content"] == reply_to(message)


async def test_an_ended_reply_replays_at_once(
    chat_server: ServerThread, token: str, conversation_id: uuid.UUID
) -> None:
    message = unique("hi")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "text"}
    async with GraphQLWebSocket(chat_server.url, token) as ws:
        events = await _all_events(ws, await ws.start(CHAT, variables), "chat")
        reply_id = events[0]["replyId"]
        replay = await _all_events(ws, await ws.start(RESUME, {"replyId": reply_id}), "resumeChat")
    assert [e["__typename"] for e in replay] == ["TextSnapshot", "ChatCompleted"]
    assert replay[0]["text"] == reply_to(message) == replay[1]["message"]["content"]


async def test_another_users_reply_is_not_found_and_stays_untouched(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("mine")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "stall"}
    intruder = mint_token(uuid.uuid4())
    async with GraphQLWebSocket(chat_server.url, token) as ws:
        started, *_ = await _first_events(ws, await ws.start(CHAT, variables), 2)
        reply_id = started["replyId"]
        async with GraphQLWebSocket(chat_server.url, intruder) as other:
            with pytest.raises(SubscriptionError) as caught:
                await _all_events(
                    other, await other.start(RESUME, {"replyId": reply_id}), "resumeChat"
                )
        assert caught.value.codes == ["NOT_FOUND"]
        stopped = await gql(chat_client, STOP, {"id": reply_id}, token=intruder)
        assert stopped["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert not fake_provider.was_closed(message)
        # The owner can still stop it.
        mine = await gql(chat_client, STOP, {"id": reply_id}, token=token)
        assert mine["data"]["stopChat"]["status"] == "INCOMPLETE"


async def test_stop_chat_closes_the_upstream_at_once_and_saves_incomplete(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("never ending")
    variables = {"conversationId": str(conversation_id), "message": message, "model": "stall"}
    async with GraphQLWebSocket(chat_server.url, token) as ws:
        op_id = await ws.start(CHAT, variables)
        started, *_ = await _first_events(ws, op_id, 1 + len(STALL_CHUNKS))
        stopped = await gql(chat_client, STOP, {"id": started["replyId"]}, token=token)
        # The subscriber hears how it ended.
        rest = await _all_events(ws, op_id, "chat")
    reply = stopped["data"]["stopChat"]
    assert reply == {
        "id": started["replyId"],
        "status": "INCOMPLETE",
        "content": "".join(STALL_CHUNKS),
    }
    assert await eventually(lambda: asyncio.sleep(0, fake_provider.was_closed(message)), 2)
    assert rest[-1]["__typename"] == "ChatCompleted"
    assert rest[-1]["message"]["status"] == "INCOMPLETE"
    rows = await saved_messages(engine, user_id, conversation_id)
    assert rows[1]["metadata"]["finish_reason"] == "cancelled"


async def test_text_postgresql_refuses_is_sent_and_saved_replaced_alike(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    variables = {"conversationId": str(conversation_id), "message": unique("x"), "model": "dirty"}
    async with GraphQLWebSocket(chat_server.url, token) as ws:
        events = await _all_events(ws, await ws.start(CHAT, variables), "chat")
    sent = _text_of(events)
    expected = "".join(DIRTY_CHUNKS).replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    assert sent == expected
    rows = await saved_messages(engine, user_id, conversation_id)
    assert rows[1]["content"] == expected
    assert rows[1]["status"] == "complete"


async def test_the_reply_is_checkpointed_while_it_streams(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    # About 3 s of streaming: checkpoints are written once a second for every reply of the
    # process together, so a tick falls inside the reply whenever it began.
    message = unique("take your time " * 10)
    variables = {"conversationId": str(conversation_id), "message": message, "model": "slow"}
    async with GraphQLWebSocket(chat_server.url, token) as ws:
        op_id = await ws.start(CHAT, variables)
        received = ""
        async for data in ws.results(op_id):
            event = data["chat"]
            received += event.get("text") or ""

            async def checkpointed() -> str:
                rows = await saved_messages(engine, user_id, conversation_id)
                return rows[1]["content"] if rows[1]["status"] == "streaming" else ""

            if len(received) > 30:
                saved = await eventually(checkpointed, 3)
                break
    assert saved, "no checkpoint while the reply streamed"
    # A checkpoint is a prefix of the reply: what a crash would leave.
    assert reply_to(message).startswith(saved)
    assert len(saved) < len(reply_to(message))


async def test_conversation_events_reach_another_device(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    message = unique("hello other tab")
    async with GraphQLWebSocket(chat_server.url, token) as watcher:
        watch = await watcher.start(CONVERSATION_EVENTS, {"conversationId": str(conversation_id)})
        await asyncio.sleep(0.3)  # subscribed before anything happens
        variables = {"conversationId": str(conversation_id), "message": message, "model": "text"}
        async with GraphQLWebSocket(chat_server.url, token) as ws:
            await _all_events(ws, await ws.start(CHAT, variables), "chat")
        renamed = await gql(
            chat_client,
            'mutation($id: UUID!) { renameConversation(id: $id, title: "Renamed") { id } }',
            {"id": str(conversation_id)},
            token=token,
        )
        assert "errors" not in renamed
        # The rename is read by the subscriber when it hears of it: delete only after that.
        events = await asyncio.wait_for(_first_events(watcher, watch, 4, "conversationEvents"), 10)
        await gql(
            chat_client,
            "mutation($id: UUID!) { deleteConversation(id: $id) }",
            {"id": str(conversation_id)},
            token=token,
        )
        events += await asyncio.wait_for(_all_events(watcher, watch, "conversationEvents"), 10)
    kinds = [e["__typename"] for e in events]
    assert kinds == [
        "MessageAdded",
        "MessageAdded",
        "MessageUpdated",
        "ConversationUpdated",
        "ConversationDeleted",
    ]
    assert events[0]["message"]["content"] == message
    assert events[1]["message"]["status"] == "STREAMING"
    assert events[2]["message"]["status"] == "COMPLETE"
    assert events[2]["message"]["content"] == reply_to(message)
    assert events[3]["conversation"]["title"] == "Renamed"


async def test_another_users_conversation_events_are_not_found(
    chat_server: ServerThread, conversation_id: uuid.UUID
) -> None:
    intruder = mint_token(uuid.uuid4())
    async with GraphQLWebSocket(chat_server.url, intruder) as ws:
        op_id = await ws.start(CONVERSATION_EVENTS, {"conversationId": str(conversation_id)})
        with pytest.raises(SubscriptionError) as caught:
            await _all_events(ws, op_id, "conversationEvents")
    assert caught.value.codes == ["NOT_FOUND"]


@pytest.fixture(scope="module")
def capped_settings(chat_settings: Settings) -> Settings:
    chat = chat_settings.chat.model_copy(
        update={"max_turns_in_flight": 4, "max_buffered_events": 50}
    )
    return chat_settings.model_copy(update={"chat": chat})


@pytest.fixture(scope="module")
def capped_server(capped_settings: Settings) -> AsyncIterator[ServerThread]:
    with ServerThread(create_app(capped_settings)) as thread:
        yield thread


async def test_at_most_four_turns_stream_at_once_per_user(
    capped_server: ServerThread, chat_client: httpx.AsyncClient
) -> None:
    token = mint_token(uuid.uuid4())
    async with httpx.AsyncClient(base_url=capped_server.url, timeout=30) as http:
        created = await gql(http, "mutation { createConversation { id } }", token=token)
        conversation = created["data"]["createConversation"]["id"]
        variables = {"conversationId": conversation, "message": "hold", "model": "stall"}

        async def attempt() -> str:
            async with GraphQLWebSocket(capped_server.url, token) as ws:
                try:
                    await _first_events(ws, await ws.start(CHAT, variables), 1)
                except SubscriptionError as error:
                    retry_after = error.errors[0]["extensions"]["retryAfter"]
                    return f"{error.codes[0]} after {retry_after}"
                return "STARTED"

        outcomes = await asyncio.gather(*(attempt() for _ in range(20)))
        assert outcomes.count("STARTED") == 4
        assert set(outcomes) == {"STARTED", "RATE_LIMITED after 5"}
        replies = await gql(
            http,
            "query($id: UUID!) { conversation(id: $id) { messages { edges { node { id status } } } } }",
            {"id": conversation},
            token=token,
        )
        streaming = [
            e["node"]["id"]
            for e in replies["data"]["conversation"]["messages"]["edges"]
            if e["node"]["status"] == "STREAMING"
        ]
        assert len(streaming) == 4
        # The OpenAI-compatible surface counts against the same cap.
        completion = await http.post(
            "/ai/v1/chat/completions",
            json={"model": "text", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert completion.status_code == 429
        for reply_id in streaming:
            await gql(http, STOP, {"id": reply_id}, token=token)
        # A slot is free again.
        async with GraphQLWebSocket(capped_server.url, token) as ws:
            first = await _first_events(ws, await ws.start(CHAT, variables), 1)
            assert first[0]["__typename"] == "ChatStarted"
            await gql(http, STOP, {"id": first[0]["replyId"]}, token=token)


async def test_a_client_that_never_reads_neither_holds_the_turn_nor_grows_memory(
    capped_server: ServerThread,
) -> None:
    token = mint_token(uuid.uuid4())
    async with httpx.AsyncClient(base_url=capped_server.url, timeout=30) as http:
        created = await gql(http, "mutation { createConversation { id } }", token=token)
        conversation = created["data"]["createConversation"]["id"]
        variables = {"conversationId": conversation, "message": unique("flood"), "model": "long"}
        async with GraphQLWebSocket(capped_server.url, token) as ws:
            await ws.start(CHAT, variables)
            # Never read: the reply (tens of thousands of deltas) is saved whole meanwhile.

            async def saved() -> dict[str, Any] | None:
                body = await gql(
                    http,
                    "query($id: UUID!) { conversation(id: $id) { messages { edges { node { role status content } } } } }",
                    {"id": conversation},
                    token=token,
                )
                nodes = [e["node"] for e in body["data"]["conversation"]["messages"]["edges"]]
                done = [n for n in nodes if n["role"] == "ASSISTANT" and n["status"] == "COMPLETE"]
                return done[0] if done else None

            reply = await eventually(saved, 30)
            assert reply is not None
            assert len(reply["content"]) == LONG_CHUNKS * 10
            # Another turn of the same user is served meanwhile.
            other = {"conversationId": conversation, "message": "and you?", "model": "text"}
            async with GraphQLWebSocket(capped_server.url, token) as second:
                events = await _all_events(second, await second.start(CHAT, other), "chat")
            assert events[-1]["__typename"] == "ChatCompleted"


async def test_the_final_save_survives_its_connection_being_terminated(
    chat_server: ServerThread,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    marker = unique("terminate me")
    # The reply's final save waits a moment inside its statement, long enough to be killed.
    statements = [
        f"""create function test_slow_final_save() returns trigger language plpgsql as $$
            begin
              if new.status = 'complete' and old.status = 'streaming'
                 and new.content like '%{marker}%' then
                perform pg_sleep(0.5);
              end if;
              return new;
            end $$""",
        """create trigger test_slow_final_save before update on messages
            for each row execute function test_slow_final_save()""",
    ]
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    try:
        variables = {"conversationId": str(conversation_id), "message": marker, "model": "text"}
        async with GraphQLWebSocket(chat_server.url, token) as ws:
            op_id = await ws.start(CHAT, variables)

            async def terminated() -> bool:
                async with engine.begin() as conn:
                    killed = await conn.execute(
                        text(
                            "select pg_terminate_backend(pid) from pg_stat_activity"
                            " where application_name = 'reactor-chat'"
                            " and wait_event = 'PgSleep'"
                        )
                    )
                    return bool(killed.all())

            assert await eventually(terminated, 10)
            events = await _all_events(ws, op_id, "chat")
        assert events[-1]["__typename"] == "ChatCompleted"
        rows = await saved_messages(engine, user_id, conversation_id)
        assert [(r["role"], r["status"]) for r in rows] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert rows[1]["content"] == reply_to(marker)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("drop trigger test_slow_final_save on messages"))
            await conn.execute(text("drop function test_slow_final_save()"))

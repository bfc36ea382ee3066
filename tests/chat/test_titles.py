"""A conversation still titled "New conversation" is titled by the model after its first reply,
once, never over a title the user chose, and a failing title model changes nothing else."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from db import conversations as conversation_queries
from db.session import rls_transaction
from resolvers.chat.titles import INSTRUCTION, MAX_TITLE_CHARS, clean_title
from tests.chat.conftest import saved_messages, unique
from tests.chat.fake_provider import FakeProvider, reply_to
from tests.chat.test_chat_interruptions import eventually
from tests.chat.ws_client import CONVERSATION_EVENTS, GraphQLWebSocket
from tests.support.graphql import gql
from tests.support.server import ServerThread

SEND = """
mutation($c: UUID!, $m: String!) {
  sendMessage(conversationId: $c, message: $m, model: "text") { id content status }
}
"""
TITLE = "query($c: UUID!) { conversation(id: $c) { title } }"


def _server(settings: Settings, title_model: str) -> Iterator[ServerThread]:
    chat = settings.chat.model_copy(update={"title_model": title_model})
    with ServerThread(create_app(settings.model_copy(update={"chat": chat}))) as thread:
        yield thread


@pytest.fixture(scope="module")
def titling_server(chat_settings: Settings) -> Iterator[ServerThread]:
    yield from _server(chat_settings, "text")


@pytest.fixture(scope="module")
def failing_title_server(chat_settings: Settings) -> Iterator[ServerThread]:
    yield from _server(chat_settings, "fail")


def _title_requests(provider: FakeProvider, text: str) -> list[dict[str, Any]]:
    return [
        b for b in provider.bodies_mentioning(text) if b["messages"][0]["content"] == INSTRUCTION
    ]


async def _create(http: httpx.AsyncClient, token: str, title: str | None = None) -> str:
    query = "mutation($t: String) { createConversation(title: $t) { id } }"
    body = await gql(http, query, {"t": title}, token=token)
    return str(body["data"]["createConversation"]["id"])


async def _title(http: httpx.AsyncClient, token: str, conversation: str) -> str:
    body = await gql(http, TITLE, {"c": conversation}, token=token)
    return str(body["data"]["conversation"]["title"])


async def _send(http: httpx.AsyncClient, token: str, conversation: str, message: str) -> Any:
    body = await gql(http, SEND, {"c": conversation, "m": message}, token=token)
    assert "errors" not in body, body
    return body["data"]["sendMessage"]


async def test_the_first_reply_titles_the_conversation_once(
    titling_server: ServerThread, fake_provider: FakeProvider, token: str
) -> None:
    first, second = unique("plan a trip"), unique("and then?")
    async with (
        httpx.AsyncClient(base_url=titling_server.url, timeout=30) as http,
        GraphQLWebSocket(titling_server.url, token) as ws,
    ):
        conversation = await _create(http, token)
        events = await ws.start(CONVERSATION_EVENTS, {"conversationId": conversation})
        await _send(http, token, conversation, first)
        expected = clean_title(reply_to(f"User: {first}\nAssistant: {reply_to(first)}"))
        assert len(expected) <= MAX_TITLE_CHARS
        assert "\n" not in expected

        async def titled() -> bool:
            return await _title(http, token, conversation) == expected

        assert await eventually(titled)
        updated = []
        async for data in ws.results(events):
            event = data["conversationEvents"]
            if event["__typename"] == "ConversationUpdated":
                updated.append(event["conversation"]["title"])
                if event["conversation"]["title"] == expected:
                    break
        assert updated[-1] == expected
        await _send(http, token, conversation, second)
        await asyncio.sleep(0.3)
        # Asked once, off the first exchange only.
        [request] = _title_requests(fake_provider, first)
        assert request["model"] == "text"
        assert second not in str(request["messages"])
        assert await _title(http, token, conversation) == expected


async def test_a_title_the_user_chose_is_never_replaced(
    titling_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
) -> None:
    message = unique("mine")
    async with httpx.AsyncClient(base_url=titling_server.url, timeout=30) as http:
        conversation = await _create(http, token, "My trip")
        await _send(http, token, conversation, message)
        await asyncio.sleep(0.3)
        assert await _title(http, token, conversation) == "My trip"
        assert _title_requests(fake_provider, message) == []
    # A rename that lands while the title is being written wins: the title only replaces the
    # default.
    claims = {"sub": str(user_id), "role": "authenticated"}
    async with rls_transaction(engine, claims) as conn:
        row = await conversation_queries.create(conn, "New conversation")
        await conversation_queries.rename(conn, row.id, "Renamed")
        assert not await conversation_queries.title_if_default(
            conn, row.id, "Generated", "New conversation"
        )
        assert (await conversation_queries.get(conn, row.id)).title == "Renamed"  # type: ignore[union-attr]


async def test_a_failing_title_model_changes_nothing_else(
    failing_title_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = unique("secret plans")
    async with httpx.AsyncClient(base_url=failing_title_server.url, timeout=30) as http:
        conversation = await _create(http, token)
        reply = await _send(http, token, conversation, message)
        assert reply["content"] == reply_to(message)
        assert reply["status"] == "COMPLETE"

        async def asked() -> bool:
            return bool(_title_requests(fake_provider, message))

        assert await eventually(asked)
        await asyncio.sleep(0.3)
        assert await _title(http, token, conversation) == "New conversation"
    rows = await saved_messages(engine, user_id, uuid.UUID(conversation))
    assert [(r["role"], r["content"], r["status"]) for r in rows] == [
        ("user", message, "complete"),
        ("assistant", reply_to(message), "complete"),
    ]
    assert message not in caplog.text

"""A NUL or an unpaired surrogate in any GraphQL string argument, inline or in a variable, is
BAD_USER_INPUT before anything runs: nothing is written, and no internal error either (the
database cannot store a NUL, UTF-8 cannot encode a lone surrogate)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.auth.flows import PASSWORD, new_email, sign_up
from tests.chat.ws_client import CHAT, LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket, SubscriptionError
from tests.support.graphql import codes, gql

BAD = {"NUL": "a\x00b", "unpaired surrogate": "a\ud800b"}
# The same text as a GraphQL string literal (the lexer itself refuses the surrogate).
INLINE = {"NUL": '"a\\u0000b"', "unpaired surrogate": '"a\\ud800b"'}

# Every string argument of a mutation, `$v` standing for it.
ARGUMENTS = {
    "createConversation.title": "mutation($v: String) { createConversation(title: $v) { id } }",
    "renameConversation.title": "mutation($c: UUID!, $v: String!) { renameConversation(id: $c, title: $v) { id } }",
    "signUp.email": "mutation($v: String!) { signUp(email: $v, password: $password) { accessToken } }",
    "signUp.password": "mutation($v: String!) { signUp(email: $email, password: $v) { accessToken } }",
    "signIn.email": "mutation($v: String!) { signIn(email: $v, password: $password) { accessToken } }",
    "signIn.password": "mutation($v: String!) { signIn(email: $email, password: $v) { accessToken } }",
    "refreshSession.refreshToken": "mutation($v: String!) { refreshSession(refreshToken: $v) { accessToken } }",
    "sendMessage.message": "mutation($c: UUID!, $v: String!) { sendMessage(conversationId: $c, message: $v) { id } }",
}


async def _writes(engine: AsyncEngine, user_id: uuid.UUID) -> dict[str, Any]:
    """What the mutations above could have written (the tests run one at a time)."""
    async with engine.connect() as conn:
        conversations = await conn.execute(
            text("select id, title, updated_at from conversations where user_id = :u order by id"),
            {"u": user_id},
        )
        counts = await conn.execute(
            text(
                "select (select count(*) from messages) as messages,"
                " (select count(*) from auth.users) as users,"
                " (select count(*) from auth.sessions) as sessions,"
                " (select count(*) from auth.sign_in_failures) as failures"
            )
        )
        return {"conversations": conversations.all(), **counts.mappings().one()}


def _document(argument: str, value: str, email: str) -> str:
    """The document with its literals in place: only `$v` (and `$c`) stay variables."""
    document = ARGUMENTS[argument]
    return (
        (document.replace("$password", json.dumps(PASSWORD)).replace("$email", json.dumps(email)))
        .replace("$v)", f"{value})")
        .replace("$v,", f"{value},")
    )


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    # Sent as ASCII JSON: httpx's own encoder cannot write a lone surrogate as UTF-8.
    response = await client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def conversation(client: httpx.AsyncClient, token: str) -> str:
    body = await gql(client, 'mutation { createConversation(title: "kept") { id } }', token=token)
    conversation_id: str = body["data"]["createConversation"]["id"]
    return conversation_id


@pytest.fixture
async def account(client: httpx.AsyncClient) -> str:
    email = new_email()
    await sign_up(client, email)
    return email


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("argument", ARGUMENTS)
@pytest.mark.parametrize("form", ["variable", "inline"])
async def test_unusable_text_in_a_string_argument_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation: str,
    account: str,
    argument: str,
    bad: str,
    form: str,
) -> None:
    before = await _writes(engine, user_id)
    if form == "variable":
        query = _document(argument, "$v", account)
        variables: dict[str, Any] = {"v": BAD[bad]}
    else:
        query = (
            _document(argument, INLINE[bad], account)
            .replace("$v: String!", "")
            .replace("$v: String", "")
        )
        variables = {}
    if "$c" in query:
        variables["c"] = conversation
    query = query.replace("mutation()", "mutation")
    body = await _post(client, query, variables, token)
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body.get("data") is None
    assert await _writes(engine, user_id) == before


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("bad", BAD)
async def test_unusable_text_in_a_chat_message_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation: str,
    bad: str,
    protocol: str,
) -> None:
    before = await _writes(engine, user_id)
    async with GraphQLWebSocket(str(client.base_url), token, protocol) as ws:
        op_id = await ws.start(CHAT, {"conversationId": conversation, "message": BAD[bad]})
        with pytest.raises(SubscriptionError) as refused:
            [event async for event in ws.results(op_id)]
    assert refused.value.codes == ["BAD_USER_INPUT"]
    assert await _writes(engine, user_id) == before


async def test_text_that_is_merely_unusual_is_kept(client: httpx.AsyncClient, token: str) -> None:
    title = "emoji \U0001f600, \u200b zero-width, \ufffd replacement"
    body = await _post(
        client,
        "mutation($v: String) { createConversation(title: $v) { title } }",
        {"v": title},
        token,
    )
    assert body["data"]["createConversation"]["title"] == title

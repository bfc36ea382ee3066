"""A conversation is a tree: an edit or a regeneration adds a branch, the model sees only the
branch it continues, and a client can switch between branches or fork one off."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.conftest import SYSTEM_PROMPT, saved_messages, unique
from tests.chat.fake_provider import FakeProvider, reply_to
from tests.chat.ws_client import GraphQLWebSocket, SubscriptionError
from tests.support.graphql import gql, mint_token
from tests.support.server import ServerThread

SEND = """
mutation($c: UUID!, $m: String!, $p: UUID, $model: String) {
  sendMessage(conversationId: $c, message: $m, parentId: $p, model: $model) {
    id content parentId siblingIds
  }
}
"""
REGENERATE = """
subscription($r: UUID!, $model: String) {
  regenerate(replyId: $r, model: $model) {
    __typename
    ... on ChatStarted { replyId userMessage { id content } }
    ... on ChatCompleted { message { id content parentId siblingIds status } }
  }
}
"""
CONVERSATION = """
query($c: UUID!) {
  conversation(id: $c) {
    title currentMessageId
    messages { edges { node { id role content parentId siblingIds } } }
  }
}
"""
SWITCH = """
mutation($c: UUID!, $m: UUID!) {
  switchBranch(conversationId: $c, messageId: $m) { id currentMessageId }
}
"""
FORK = """
mutation($m: UUID!, $t: String) { forkConversation(messageId: $m, title: $t) { id title } }
"""


async def _send(
    http: httpx.AsyncClient,
    token: str,
    conversation: uuid.UUID | str,
    message: str,
    parent: str | None = None,
    model: str = "text",
) -> dict[str, Any]:
    variables = {"c": str(conversation), "m": message, "p": parent, "model": model}
    body = await gql(http, SEND, variables, token=token)
    assert "errors" not in body, body
    reply: dict[str, Any] = body["data"]["sendMessage"]
    return reply


async def _shown(http: httpx.AsyncClient, token: str, conversation: uuid.UUID | str) -> Any:
    body = await gql(http, CONVERSATION, {"c": str(conversation)}, token=token)
    return body["data"]["conversation"]


def _contents(shown: Any) -> list[str]:
    return [e["node"]["content"] for e in shown["messages"]["edges"]]


async def _regenerate(url: str, token: str, reply_id: str, model: str = "text") -> list[Any]:
    async with GraphQLWebSocket(url, token) as ws:
        op = await ws.start(REGENERATE, {"r": reply_id, "model": model})
        return [data["regenerate"] async for data in ws.results(op)]


def _user_turns(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] in ("user", "assistant")]


async def test_an_edit_makes_a_branch_and_the_model_sees_only_that_branch(
    chat_client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    first, second, edited = unique("first"), unique("second"), unique("second, edited")
    reply_1 = await _send(chat_client, token, conversation_id, first)
    reply_2 = await _send(chat_client, token, conversation_id, second)
    # The edit of `second` is a chat whose parent is `second`'s parent: the first reply.
    reply_3 = await _send(chat_client, token, conversation_id, edited, parent=reply_1["id"])

    [body] = fake_provider.bodies_mentioning(edited)
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert _user_turns(body) == [first, reply_to(first), edited]
    shown = await _shown(chat_client, token, conversation_id)
    assert _contents(shown) == [first, reply_to(first), edited, reply_to(edited)]
    assert shown["currentMessageId"] == reply_3["id"]
    nodes = [e["node"] for e in shown["messages"]["edges"]]
    assert [n["parentId"] for n in nodes] == [None, nodes[0]["id"], nodes[1]["id"], nodes[2]["id"]]
    # The edited message and the original are versions of one another, oldest first.
    assert nodes[2]["siblingIds"] == [reply_2["parentId"], nodes[2]["id"]]
    assert reply_3["siblingIds"] == [reply_3["id"]]


async def test_a_regeneration_is_a_sibling_of_the_reply(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    question = unique("question")
    reply = await _send(chat_client, token, conversation_id, question)
    events = await _regenerate(chat_server.url, token, reply["id"])
    kinds = [e["__typename"] for e in events]
    assert (kinds[0], kinds[-1]) == ("ChatStarted", "ChatCompleted")
    assert events[0]["userMessage"]["id"] == reply["parentId"]
    again = events[-1]["message"]
    assert again["status"] == "COMPLETE"
    assert again["content"] == reply_to(question)
    assert again["parentId"] == reply["parentId"]
    assert again["siblingIds"] == [reply["id"], again["id"]]
    # The model saw the question once, and not the first reply.
    bodies = fake_provider.bodies_mentioning(question)
    assert len(bodies) == 2
    assert _user_turns(bodies[1]) == [question]
    shown = await _shown(chat_client, token, conversation_id)
    assert shown["currentMessageId"] == again["id"]
    assert [e["node"]["id"] for e in shown["messages"]["edges"]] == [reply["parentId"], again["id"]]


async def test_switching_branches_changes_what_is_shown_and_continued(
    chat_client: httpx.AsyncClient,
    fake_provider: FakeProvider,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    first, second, edited, later = (
        unique("first"),
        unique("second"),
        unique("edited"),
        unique("later"),
    )
    reply_1 = await _send(chat_client, token, conversation_id, first)
    reply_2 = await _send(chat_client, token, conversation_id, second)
    await _send(chat_client, token, conversation_id, edited, parent=reply_1["id"])

    # Back to the original question: the branch runs down to its newest reply.
    switched = await gql(
        chat_client, SWITCH, {"c": str(conversation_id), "m": reply_2["parentId"]}, token=token
    )
    assert switched["data"]["switchBranch"]["currentMessageId"] == reply_2["id"]
    shown = await _shown(chat_client, token, conversation_id)
    assert _contents(shown) == [first, reply_to(first), second, reply_to(second)]

    reply_4 = await _send(chat_client, token, conversation_id, later)
    assert reply_4["content"] == reply_to(later)
    [body] = fake_provider.bodies_mentioning(later)
    assert _user_turns(body) == [first, reply_to(first), second, reply_to(second), later]
    shown = await _shown(chat_client, token, conversation_id)
    assert _contents(shown)[-2:] == [later, reply_to(later)]
    assert shown["messages"]["edges"][-2]["node"]["parentId"] == reply_2["id"]


async def test_a_fork_copies_exactly_the_path(
    chat_client: httpx.AsyncClient, token: str, conversation_id: uuid.UUID
) -> None:
    first, second, edited, third = (
        unique("first"),
        unique("second"),
        unique("edited"),
        unique("third"),
    )
    reply_1 = await _send(chat_client, token, conversation_id, first)
    await _send(chat_client, token, conversation_id, second)
    reply_3 = await _send(chat_client, token, conversation_id, edited, parent=reply_1["id"])
    await _send(chat_client, token, conversation_id, third)

    forked = await gql(chat_client, FORK, {"m": reply_3["id"], "t": "A fork"}, token=token)
    fork = forked["data"]["forkConversation"]
    assert fork["title"] == "A fork"
    assert fork["id"] != str(conversation_id)
    shown = await _shown(chat_client, token, fork["id"])
    assert _contents(shown) == [first, reply_to(first), edited, reply_to(edited)]
    nodes = [e["node"] for e in shown["messages"]["edges"]]
    assert shown["currentMessageId"] == nodes[-1]["id"]
    assert [n["parentId"] for n in nodes] == [None, *(n["id"] for n in nodes[:-1])]
    assert all(n["siblingIds"] == [n["id"]] for n in nodes)
    assert reply_3["id"] not in {n["id"] for n in nodes}
    # The source is as it was.
    source = await _shown(chat_client, token, conversation_id)
    assert _contents(source)[-2:] == [third, reply_to(third)]


async def test_a_tool_turn_chains_its_messages_and_regenerates_beside_them(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    question = unique("find a lamp")
    reply = await _send(chat_client, token, conversation_id, question, model="tools")
    shown = await _shown(chat_client, token, conversation_id)
    nodes = [e["node"] for e in shown["messages"]["edges"]]
    assert [n["role"] for n in nodes] == ["USER", "ASSISTANT", "TOOL", "ASSISTANT"]
    assert [n["parentId"] for n in nodes] == [None, *(n["id"] for n in nodes[:-1])]
    assert nodes[-1]["id"] == reply["id"] == shown["currentMessageId"]
    events = await _regenerate(chat_server.url, token, reply["id"])
    again = events[-1]["message"]
    # A sibling of the turn's first message: both answer the question.
    assert again["parentId"] == nodes[0]["id"]
    assert again["siblingIds"] == [nodes[1]["id"], again["id"]]
    rows = await saved_messages(engine, user_id, conversation_id)
    assert len(rows) == 5  # the regeneration (a text model) called no tool


async def _count_rows(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("select (select count(*) from messages), (select count(*) from conversations)")
        )
        messages, conversations = result.one()
        return int(messages), int(conversations)


async def test_another_users_ids_are_refused_and_nothing_is_written(
    chat_server: ServerThread,
    chat_client: httpx.AsyncClient,
    engine: AsyncEngine,
    token: str,
    conversation_id: uuid.UUID,
) -> None:
    reply = await _send(chat_client, token, conversation_id, unique("mine"))
    intruder = mint_token(uuid.uuid4())
    theirs = await gql(chat_client, "mutation { createConversation { id } }", token=intruder)
    their_conversation = theirs["data"]["createConversation"]["id"]
    before = await _count_rows(engine)

    async def code(query: str, variables: dict[str, Any], who: str = intruder) -> str:
        body = await gql(chat_client, query, variables, token=who)
        assert body.get("data") is None, body
        return str(body["errors"][0]["extensions"]["code"])

    mine = str(conversation_id)
    assert await code(SWITCH, {"c": mine, "m": reply["id"]}) == "NOT_FOUND"
    assert await code(FORK, {"m": reply["id"]}) == "NOT_FOUND"
    assert await code(SEND, {"c": mine, "m": "x", "p": reply["id"]}) == "NOT_FOUND"
    # In their own conversation, my message is not theirs to follow or show.
    assert await code(SEND, {"c": their_conversation, "m": "x", "p": reply["id"]}) == (
        "BAD_USER_INPUT"
    )
    assert await code(SWITCH, {"c": their_conversation, "m": reply["id"]}) == "BAD_USER_INPUT"
    with pytest.raises(SubscriptionError) as refused:
        await _regenerate(chat_server.url, intruder, reply["id"])
    assert refused.value.codes == ["NOT_FOUND"]
    # My own message in another of my conversations is no parent here either.
    other = await gql(chat_client, "mutation { createConversation { id } }", token=token)
    other_id = other["data"]["createConversation"]["id"]
    before = (before[0], before[1] + 1)
    assert await code(SEND, {"c": other_id, "m": "x", "p": reply["id"]}, token) == (
        "BAD_USER_INPUT"
    )
    with pytest.raises(SubscriptionError) as refused:
        await _regenerate(chat_server.url, token, reply["parentId"])
    assert refused.value.codes == ["BAD_USER_INPUT"]
    assert await _count_rows(engine) == before
    shown = await _shown(chat_client, token, conversation_id)
    assert shown["currentMessageId"] == reply["id"]

"""A tool call: the model asks for search_products, gets the caller's results, answers; the
calls and results are saved and replayed to the model on the next turn."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from db.products import add_many
from db.records import NewProduct
from db.session import service_transaction
from tests.chat.conftest import saved_messages
from tests.chat.fake_provider import FakeProvider, reply_to
from tests.chat.ws_client import chat_events
from tests.support.server import ServerThread


async def test_a_tool_call_is_run_streamed_saved_and_replayed(
    chat_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> None:
    word = f"kettle{uuid.uuid4().hex[:8]}"
    async with service_transaction(engine) as conn:
        await add_many(conn, [NewProduct(f"Blue {word}", "Boils water", None)])
    message = f"search {word}"
    events = await chat_events(
        chat_server.url,
        token,
        {"conversationId": str(conversation_id), "message": message, "model": "tools"},
    )
    kinds = [e["__typename"] for e in events]
    assert kinds[0] == "ChatStarted"
    assert kinds[1:3] == ["ToolCall", "ToolResult"]
    assert kinds[-1] == "ChatCompleted"
    call, result = events[1], events[2]
    assert call["name"] == result["name"] == "search_products"
    assert call["id"] == result["id"] == "call_1"
    assert json.loads(call["arguments"]) == {"query": word}
    found = json.loads(result["content"])
    assert found == {
        "products": [{"name": f"Blue {word}", "description": "Boils water", "price": None}]
    }
    reply = "".join(e["text"] for e in events if e["__typename"] == "TextDelta")
    assert reply == f"Found: {result['content']}"
    assert events[-1]["message"]["content"] == reply

    # What the provider got in the second round: the call and its result after the question.
    first, second = fake_provider.bodies_mentioning(message)
    assert second["messages"][-3:] == [
        {"role": "user", "content": message},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search_products", "arguments": call["arguments"]},
                }
            ],
        },
        {
            "role": "tool",
            "content": result["content"],
            "tool_call_id": "call_1",
            "name": "search_products",
        },
    ]

    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["role"] for r in rows] == ["user", "assistant", "tool", "assistant"]
    assert rows[1]["metadata"]["tool_calls"] == [
        {"id": "call_1", "name": "search_products", "arguments": call["arguments"]}
    ]
    assert rows[2]["metadata"] == {"tool_call_id": "call_1", "name": "search_products"}
    assert rows[2]["content"] == result["content"]

    # The next turn replays the exchange exactly as the second round sent it.
    follow_up = f"thanks {uuid.uuid4().hex}"
    events = await chat_events(
        chat_server.url, token, {"conversationId": str(conversation_id), "message": follow_up}
    )
    assert events[-1]["message"]["content"] == reply_to(follow_up)
    (body,) = fake_provider.bodies_mentioning(follow_up)
    assert body["messages"][1:-1] == [
        *second["messages"][1:],
        {"role": "assistant", "content": reply},
    ]
    assert first["messages"][-1] == {"role": "user", "content": message}


async def test_the_product_search_sees_percent_and_underscore_as_plain_characters(
    chat_server: ServerThread, engine: AsyncEngine, token: str, conversation_id: uuid.UUID
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with service_transaction(engine) as conn:
        await add_many(
            conn,
            [
                NewProduct(f"{tag} 100% cotton shirt"),
                NewProduct(f"{tag} 100 cotton shirt"),
                NewProduct(f"{tag} a_b mug"),
                NewProduct(f"{tag} axb mug"),
            ],
        )
    names = []
    for query in (f"{tag} 100%", f"{tag} a_b"):
        events = await chat_events(
            chat_server.url,
            token,
            {
                "conversationId": str(conversation_id),
                "message": f"search {query}",
                "model": "tools",
            },
        )
        (result,) = [e for e in events if e["__typename"] == "ToolResult"]
        names.append([p["name"] for p in json.loads(result["content"])["products"]])
    assert names == [[f"{tag} 100% cotton shirt"], [f"{tag} a_b mug"]]


@pytest.fixture(scope="module")
def two_round_server(chat_settings: Settings) -> Iterator[ServerThread]:
    chat = chat_settings.chat.model_copy(update={"max_tool_rounds": 2})
    with ServerThread(create_app(chat_settings.model_copy(update={"chat": chat}))) as thread:
        yield thread


@pytest.mark.parametrize(("model", "reply"), [("loop", "Giving up"), ("stubborn", "")])
async def test_tool_rounds_stop_at_the_limit_and_the_turn_still_completes(
    two_round_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    model: str,
    reply: str,
) -> None:
    """A model that keeps calling tools gets `max_tool_rounds` rounds, then a last request
    with `tool_choice: "none"`; a call it makes anyway (Bedrock cannot forbid one) is not
    run, and the turn ends with whatever text it gave."""
    message = f"search loop{uuid.uuid4().hex[:8]}"
    events = await chat_events(
        two_round_server.url,
        token,
        {"conversationId": str(conversation_id), "message": message, "model": model},
    )
    kinds = [e["__typename"] for e in events]
    assert kinds.count("ToolCall") == kinds.count("ToolResult") == 2
    assert kinds[-1] == "ChatCompleted"
    assert events[-1]["message"]["content"] == reply
    bodies = fake_provider.bodies_mentioning(message)
    assert [b.get("tool_choice") for b in bodies] == [None, None, "none"]
    rows = await saved_messages(engine, user_id, conversation_id)
    assert [r["role"] for r in rows] == ["user"] + ["assistant", "tool"] * 2 + ["assistant"]

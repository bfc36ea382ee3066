"""The offline `local/echo` provider, and routing to it when nothing is configured."""

from __future__ import annotations

import json

import httpx
from fake_upstream import collect

from gateway import (
    AISettings,
    ChatRequest,
    Finished,
    Gateway,
    Message,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)
from gateway.local import search_query

QUERY = {"type": "object", "properties": {"query": {"type": "string"}}}
SEARCH = ToolSpec("search_products", "Search the catalogue", QUERY)


def offline(http: httpx.AsyncClient) -> Gateway:
    return Gateway(AISettings(local_delay_ms=0), http)


async def test_with_no_provider_every_alias_routes_to_local_echo(http: httpx.AsyncClient) -> None:
    gateway = offline(http)
    assert {a.name: a.targets for a in gateway.aliases()} == {
        "fast": ("local/echo",),
        "power": ("local/echo",),
    }
    assert [a.is_default for a in gateway.aliases()] == [True, False]


async def test_echo_streams_the_last_user_message_word_by_word(http: httpx.AsyncClient) -> None:
    request = ChatRequest(messages=[Message("user", "hi"), Message("user", "how are you")])
    events = await collect(offline(http).stream(request))
    words = [e.text for e in events if isinstance(e, TextDelta)]
    assert words == ["Echo:", " how", " are", " you"]
    assert events[-2:] == [UsageEvent(4, 4, 8), Finished("stop")]


async def test_search_request_calls_the_search_tool(http: httpx.AsyncClient) -> None:
    request = ChatRequest(
        messages=[Message("user", "Please search products for desk lamps?")], tools=[SEARCH]
    )
    events = await collect(offline(http).stream(request))
    (call,) = [e for e in events if isinstance(e, ToolCallEvent)]
    assert (call.name, json.loads(call.arguments_json)) == (
        "search_products",
        {"query": "desk lamps"},
    )
    assert events[-1] == Finished("tool_calls")


async def test_search_calls_the_first_tool_taking_a_query_whatever_its_name(
    http: httpx.AsyncClient,
) -> None:
    weather = ToolSpec("weather", "Today's weather", {"type": "object", "properties": {"city": {}}})
    bare = ToolSpec("ping", "No parameters")
    docs = ToolSpec("search_docs", "Search the manuals", QUERY)
    request = ChatRequest(
        messages=[Message("user", "/search warranty")],
        tools=[weather, bare, docs, SEARCH],
    )
    events = await collect(offline(http).stream(request))
    (call,) = [e for e in events if isinstance(e, ToolCallEvent)]
    assert (call.name, json.loads(call.arguments_json)) == ("search_docs", {"query": "warranty"})


async def test_search_with_no_tool_taking_a_query_is_echoed(http: httpx.AsyncClient) -> None:
    weather = ToolSpec("weather", "Today's weather", {"type": "object", "properties": {"city": {}}})
    request = ChatRequest(messages=[Message("user", "/search lamps")], tools=[weather])
    events = await collect(offline(http).stream(request))
    assert not any(isinstance(e, ToolCallEvent) for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: /search lamps"


async def test_search_without_the_tool_offered_is_echoed(http: httpx.AsyncClient) -> None:
    events = await collect(
        offline(http).stream(ChatRequest(messages=[Message("user", "/search lamps")]))
    )
    assert not any(isinstance(e, ToolCallEvent) for e in events)


async def test_tool_result_is_quoted_in_the_reply(http: httpx.AsyncClient) -> None:
    request = ChatRequest(
        messages=[
            Message("user", "/search lamps"),
            Message("tool", "2 lamps found", tool_call_id="c"),
        ],
        tools=[SEARCH],
    )
    completion = await offline(http).complete(request)
    assert completion.text == "Tool result: 2 lamps found"
    assert completion.target == "local/echo"


async def test_max_tokens_cuts_the_reply_with_finish_reason_length(http: httpx.AsyncClient) -> None:
    request = ChatRequest(messages=[Message("user", "one two three four")], max_tokens=2)
    completion = await offline(http).complete(request)
    assert (completion.text, completion.finish_reason) == ("Echo: one", "length")


def test_search_rule() -> None:
    assert search_query("/search red chairs") == "red chairs"
    assert search_query("can you search for a desk?") == "a desk"
    assert search_query("I researched it") is None

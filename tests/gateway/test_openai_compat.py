"""The OpenAI-compatible provider against a fake upstream emitting real SSE bytes."""

from __future__ import annotations

import logging

import pytest
from fake_upstream import (
    HELLO,
    OPENAI_KEY,
    OPENROUTER_KEY,
    USAGE,
    FakeUpstream,
    GatewayFactory,
    Reply,
    chunk,
    collect,
    sse,
    text_stream,
    tool_call_stream,
    unique,
)

from gateway import (
    ChatRequest,
    ErrorEvent,
    Finished,
    Message,
    Started,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)


async def test_text_stream_yields_started_deltas_usage_and_finish(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["Hello", " world"])))
    gateway = make_gateway({"fast": [f"fake/{model}"]})
    events = await collect(gateway.stream(HELLO))
    assert events == [
        Started(f"fake/{model}"),
        TextDelta("Hello"),
        TextDelta(" world"),
        UsageEvent(7, 3, 10),
        Finished("stop"),
    ]


async def test_crlf_line_endings_read_like_lf(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["a", "b"], crlf=True)))
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b"]
    assert events[-1] == Finished("stop")


async def test_parallel_tool_calls_are_assembled_apart_by_index(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=tool_call_stream()))
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert [e for e in events if isinstance(e, ToolCallEvent)] == [
        ToolCallEvent(0, "call_a", "search_products", '{"query": "lamps"}'),
        ToolCallEvent(1, "call_b", "get_weather", '{"city": "Paris"}'),
    ]
    assert events[-1] == Finished("tool_calls")


async def test_request_carries_key_stream_options_tools_and_parameters(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["ok"])))
    request = ChatRequest(
        messages=[Message("system", "Be brief"), Message("user", "hi")],
        tools=[ToolSpec("search_products", "Search", {"type": "object"})],
        temperature=0.2,
        max_tokens=50,
        stop=["END"],
    )
    await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(request))
    (sent,) = fake.requests(model)
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = sent.json()
    assert body["model"] == model
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be brief"}
    assert body["tools"][0]["function"]["name"] == "search_products"
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 50, ["END"])


@pytest.mark.parametrize(("asked", "sent"), [(None, 100), (40, 40), (100, 100), (5000, 100)])
async def test_every_call_asks_for_at_most_max_output_tokens(
    fake: FakeUpstream, make_gateway: GatewayFactory, asked: int | None, sent: int
) -> None:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["ok"])))
    request = ChatRequest(messages=[Message("user", "hi")], max_tokens=asked)
    gateway = make_gateway({"fast": [f"fake/{model}"]}, max_output_tokens=100)
    await collect(gateway.stream(request))
    (recorded,) = fake.requests(model)
    assert recorded.json()["max_tokens"] == sent


async def test_openrouter_gets_its_key_and_attribution_headers(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["ok"])))
    await collect(make_gateway({"fast": [f"openrouter/{model}"]}).stream(HELLO))
    (sent,) = fake.requests(model)
    assert sent.path == "/api/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENROUTER_KEY}"
    assert sent.headers["http-referer"] == "https://reactor.example"
    assert sent.headers["x-title"] == "reactor-chat"


async def test_error_event_after_text_ends_stream_without_fallback_or_repeat(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    broken, spare = unique(), unique()
    error = {"error": {"code": 502, "message": "Provider disconnected"}}
    fake.script(broken, Reply(parts=[sse(chunk({"content": "Hel"})), sse(error)]))
    fake.script(spare, Reply(parts=text_stream(["Hello"])))
    gateway = make_gateway({"fast": [f"fake/{broken}", f"fake/{spare}"]})
    events = await collect(gateway.stream(HELLO))
    assert events[:2] == [Started(f"fake/{broken}"), TextDelta("Hel")]
    assert isinstance(events[2], ErrorEvent)
    assert len(events) == 3
    assert fake.requests(spare) == []


async def test_error_event_before_text_falls_back(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    broken, spare = unique(), unique()
    error = {"error": {"code": "server_error", "message": "overloaded"}}
    fake.script(broken, Reply(parts=[b": OPENROUTER PROCESSING\n\n", sse(error)]))
    fake.script(spare, Reply(parts=text_stream(["Hello"])))
    gateway = make_gateway({"fast": [f"fake/{broken}", f"fake/{spare}"]}, max_retries=0)
    events = await collect(gateway.stream(HELLO))
    assert events[0] == Started(f"fake/{spare}")
    assert events[-1] == Finished("stop")


async def test_truncated_stream_after_text_ends_with_error(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=[sse(chunk({"content": "partial"}))], truncate=True))
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert events[1] == TextDelta("partial")
    assert isinstance(events[-1], ErrorEvent)
    assert len(fake.requests(model)) == 1


async def test_stream_without_done_or_finish_reason_is_an_error(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(parts=[sse(chunk({"content": "cut"}))]))
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert isinstance(events[-1], ErrorEvent)
    assert (events[-1].kind, events[-1].target) == ("truncated", f"fake/{model}")


async def test_upstream_error_text_and_keys_stay_out_of_events_and_logs(
    fake: FakeUpstream, make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    model = unique()
    echoed = f'{{"error": {{"message": "Incorrect API key provided: {OPENAI_KEY}", "code": "invalid_api_key"}}}}'
    fake.script(model, Reply(401, {}, [echoed.encode()]))
    caplog.set_level(logging.DEBUG)
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    (error,) = events
    assert isinstance(error, ErrorEvent)
    assert error.kind == "auth"
    assert OPENAI_KEY not in repr(error)
    assert "Incorrect API key" not in error.message
    assert caplog.records
    assert OPENAI_KEY not in caplog.text
    assert OPENROUTER_KEY not in caplog.text


async def test_usage_only_chunk_with_empty_choices_is_read(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    parts = [sse(chunk({"content": "x"}, finish="stop")), sse(chunk(usage=USAGE)), sse("[DONE]")]
    fake.script(model, Reply(parts=parts))
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert events[-2:] == [UsageEvent(7, 3, 10), Finished("stop")]

"""Our OpenAI-compatible wire format, consumed by the official openai SDK."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.endpoints.openai_format import (
    ChunkEncoder,
    InvalidRequest,
    completion_body,
    error_body,
    models_body,
    parse_chat_request,
    sse_stream,
)
from gateway import AISettings, ErrorEvent, Gateway, UnknownModel
from gateway.events import Event, Finished, Started, TextDelta, ToolCallEvent, UsageEvent

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_products",
        "description": "Search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}


def surface(gateway: Gateway) -> Starlette:
    """A minimal `/v1/chat/completions` and `/v1/models` over the gateway."""

    async def completions(request: Request) -> Response:
        try:
            parsed = parse_chat_request(await request.json())
            gateway.resolve(parsed.request.model)
        except (InvalidRequest, UnknownModel) as exc:
            return JSONResponse(error_body(str(exc)), status_code=400)
        if parsed.stream:
            body = sse_stream(
                gateway.stream(parsed.request), parsed.request.model or "", parsed.include_usage
            )
            return StreamingResponse(body, media_type="text/event-stream")
        return JSONResponse(completion_body(await gateway.complete(parsed.request)))

    async def models(request: Request) -> Response:
        return JSONResponse(models_body(gateway.aliases()))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models),
        ]
    )


@pytest_asyncio.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's own HTTP client; the offline gateway never uses it."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest_asyncio.fixture
async def client(http: httpx.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    app = surface(Gateway(AISettings(local_delay_ms=0), http))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as sdk_http:
        yield openai.AsyncOpenAI(base_url="http://test/v1", api_key="token", http_client=sdk_http)


async def test_sdk_reads_a_streamed_reply_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "hello there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    assert chunks[0].model == "local/echo"


async def test_sdk_assembles_streamed_tool_calls(client: openai.AsyncOpenAI) -> None:
    async with client.chat.completions.stream(
        model="fast",
        messages=[{"role": "user", "content": "/search desk lamp"}],
        tools=[SEARCH_TOOL],  # type: ignore[list-item]
    ) as stream:
        final = await stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "search_products"  # type: ignore[union-attr]
    assert call.function.arguments == '{"query": "desk lamp"}'  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_sdk_reads_a_whole_completion(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="power", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "Echo: hi"
    assert completion.usage is not None
    assert completion.model == "local/echo"


async def test_sdk_lists_the_aliases(client: openai.AsyncOpenAI) -> None:
    models = [m.id async for m in client.models.list()]
    assert models == ["fast", "power"]


async def test_sdk_gets_bad_request_for_an_unknown_model(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="Unknown model"):
        await client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "hi"}]
        )


def test_error_event_becomes_an_error_chunk_the_sdk_raises_on() -> None:
    (chunk,) = ChunkEncoder("fast", False).encode(ErrorEvent("Try again.", "timeout"))
    assert chunk["error"]["message"] == "Try again."


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "messages: Field required"),
        ({"messages": []}, "messages: List should have at least 1 item"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 5}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n:"),
        ([1, 2], "body"),
    ],
)
def test_invalid_bodies_are_refused_with_the_field_named(body: object, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        parse_chat_request(body)


def test_a_full_body_becomes_a_chat_request() -> None:
    parsed = parse_chat_request(
        {
            "model": "power",
            "messages": [
                {"role": "developer", "content": "Be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "done"},
            ],
            "tools": [SEARCH_TOOL],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 20,
            "stop": "END",
            "tool_choice": "auto",
        }
    )
    request = parsed.request
    assert (parsed.stream, parsed.include_usage) == (True, True)
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool"]
    assert request.messages[1].content == "ab"
    assert request.messages[2].tool_calls[0].id == "c1"
    assert (request.max_tokens, list(request.stop), request.tool_choice) == (20, ["END"], "auto")
    assert request.tools[0].name == "search_products"


def test_both_token_limits_are_accepted_only_when_they_agree() -> None:
    hi = [{"role": "user", "content": "hi"}]
    same = parse_chat_request({"messages": hi, "max_tokens": 30, "max_completion_tokens": 30})
    assert same.request.max_tokens == 30
    with pytest.raises(InvalidRequest, match="differ"):
        parse_chat_request({"messages": hi, "max_tokens": 10**6, "max_completion_tokens": 30})


TEXTS = [
    "",
    "word",
    ' "quoted" \\ slash / ',
    "line\nbreak\ttab\r",
    "héllo ✓ 🎉",
    "\x00\x1f\x7f",
    "\ud83d",
]


@pytest.mark.parametrize("text", TEXTS)
async def test_a_text_delta_serialised_once_is_the_chunk_the_encoder_makes(text: str) -> None:
    events: list[Event] = [Started("fake/target"), TextDelta(text), Finished("stop")]

    async def stream() -> AsyncIterator[Event]:
        for event in events:
            yield event

    joined = b"".join([part async for part in sse_stream(stream(), "fast", False)])
    body = [event + b"\n\n" for event in joined.removesuffix(b"\n\n").split(b"\n\n")]
    encoder = ChunkEncoder("fast", False)
    expected = [chunk for event in events for chunk in encoder.encode(event)]
    assert body[-1] == b"data: [DONE]\n\n"
    sent = [json.loads(part.removeprefix(b"data: ")) for part in body[:-1]]
    assert all(part.endswith(b"\n\n") for part in body)
    assert len({chunk.pop("id") for chunk in sent}) == 1
    for chunk in expected:
        chunk.pop("id")
    assert sent == expected
    # Compact, as every other chunk is.
    for part, chunk in zip(body, sent, strict=False):
        reencoded = json.dumps({"id": encoder.id, **chunk}, separators=(",", ":"))
        assert len(part) == len(b"data: \n\n") + len(reencoded)


def _one_chunk_per_write(events: list[Event], include_usage: bool) -> bytes:
    """The body as it was written before joining: each chunk its own write, [DONE] last."""
    encoder = ChunkEncoder("fast", include_usage)
    chunks = [chunk for event in events for chunk in encoder.encode(event)]
    body = b"".join(
        b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks
    )
    return body.replace(encoder.id.encode(), b"ID") + b"data: [DONE]\n\n"


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize(
    "last", [Finished("tool_calls"), ErrorEvent("The reply was interrupted.", "timeout", "f/t")]
)
async def test_joined_writes_are_the_bytes_of_one_chunk_per_write(
    include_usage: bool, last: Event
) -> None:
    events: list[Event] = [
        Started("fake/target"),
        TextDelta("a"),
        TextDelta("b"),
        ToolCallEvent(0, "call_1", "search", '{"q":1}'),
        UsageEvent(3, 2, 5),
        last,
    ]
    after_last: list[str] = []

    async def stream() -> AsyncIterator[Event]:
        for event in events:
            yield event
        after_last.append("the call's end")

    writes = []
    async for part in sse_stream(stream(), "fast", include_usage):
        # [DONE] waits for the stream's end (the call's end, on /ai/v1).
        writes.append((part, list(after_last)))
    body = b"".join(part for part, _ in writes)
    ids = set(re.findall(rb'"id":"(chatcmpl-[0-9a-f]+)"', body))
    assert len(ids) == 1
    assert body.replace(ids.pop(), b"ID") == _one_chunk_per_write(events, include_usage)
    assert after_last == ["the call's end"]
    assert writes[-1][0].endswith(b"data: [DONE]\n\n")
    assert writes[-1][1] == ["the call's end"]
    assert all(seen == [] for _, seen in writes[:-1])
    # The role chunk went with the first delta: a, b, the tool call, then the rest at once.
    assert len(writes) == 4
    assert b'"role":"assistant"' in writes[0][0]
    assert b'"content":"a"' in writes[0][0]

"""Bedrock ConverseStream against a fake that checks SigV4 and emits real event-stream frames."""

from __future__ import annotations

from typing import Any

from fake_upstream import (
    HELLO,
    FakeUpstream,
    GatewayFactory,
    Reply,
    collect,
    converse_text,
    converse_tools,
    event,
    exception,
    unique,
)

from gateway import (
    ChatRequest,
    ErrorEvent,
    Finished,
    Message,
    Started,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)
from gateway.converse import request_body as converse_body


def bedrock_model() -> str:
    # Real ids carry a `:` version suffix, which must be percent-encoded and signed as such.
    return f"anthropic.{unique()}-v1:0"


async def test_signed_text_stream_is_decoded(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = bedrock_model()
    fake.script(model, Reply(parts=converse_text(["Bon", "jour"])))
    events = await collect(make_gateway({"power": [f"bedrock/{model}"]}).stream(HELLO))
    assert events == [
        Started(f"bedrock/{model}"),
        TextDelta("Bon"),
        TextDelta("jour"),
        UsageEvent(11, 4, 15),
        Finished("stop"),
    ]
    (sent,) = fake.requests(model)
    assert sent.raw_path == f"/model/{model.replace(':', '%3A')}/converse-stream"
    assert "/bedrock/aws4_request" in sent.headers["authorization"]


async def test_wrong_region_signature_is_refused_by_the_fake(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = bedrock_model()
    fake.script(model, Reply(parts=converse_text(["never"])))
    gateway = make_gateway({"power": [f"bedrock/{model}"]}, aws_bedrock_region="us-east-1")
    (error,) = await collect(gateway.stream(HELLO))
    assert isinstance(error, ErrorEvent)
    assert error.kind == "auth"


async def test_tool_use_blocks_become_separate_tool_calls(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = bedrock_model()
    fake.script(model, Reply(parts=converse_tools()))
    events = await collect(make_gateway({"power": [f"bedrock/{model}"]}).stream(HELLO))
    assert events[1] == TextDelta("Looking")
    assert [e for e in events if isinstance(e, ToolCallEvent)] == [
        ToolCallEvent(0, "tooluse_a", "search_products", '{"query": "desk"}'),
        ToolCallEvent(1, "tooluse_b", "get_weather", '{"city": "Oslo"}'),
    ]
    assert events[-1] == Finished("tool_calls")


async def test_throttling_exception_before_text_is_retried(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = bedrock_model()
    throttled = Reply(
        parts=[
            event("messageStart", {"role": "assistant"}),
            exception("throttlingException", "slow down"),
        ]
    )
    fake.script(model, throttled, Reply(parts=converse_text(["ok"])))
    events = await collect(make_gateway({"power": [f"bedrock/{model}"]}).stream(HELLO))
    assert events[-1] == Finished("stop")
    assert len(fake.requests(model)) == 2


async def test_exception_after_text_ends_with_an_error_event(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = bedrock_model()
    parts = converse_text(["half"])[:2] + [exception("modelStreamErrorException", "oops")]
    fake.script(model, Reply(parts=parts))
    events = await collect(make_gateway({"power": [f"bedrock/{model}"]}).stream(HELLO))
    assert events[:2] == [Started(f"bedrock/{model}"), TextDelta("half")]
    assert isinstance(events[2], ErrorEvent)
    assert len(events) == 3


async def test_http_throttling_honours_retry_then_falls_back(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model, spare = bedrock_model(), unique()
    fake.script(model, Reply(429, {"x-amzn-errortype": "ThrottlingException:http://x"}, [b"{}"]))
    fake.script(spare, Reply(parts=converse_text(["spare"])))
    gateway = make_gateway({"power": [f"bedrock/{model}", f"bedrock/{spare}"]}, max_retries=1)
    events = await collect(gateway.stream(HELLO))
    assert events[0] == Started(f"bedrock/{spare}")
    assert len(fake.requests(model)) == 2


def _tool_history(**request: Any) -> ChatRequest:
    return ChatRequest(
        messages=[
            Message("user", "find desks"),
            Message("assistant", None, [ToolCall("t1", "search_products", '{"query": "d"}')]),
            Message("tool", "3 desks", tool_call_id="t1", name="search_products"),
        ],
        **request,
    )


def test_a_tool_history_always_declares_its_tools_which_converse_requires() -> None:
    """Converse refuses toolUse/toolResult blocks without a toolConfig and has no "none"."""
    spec = ToolSpec("search_products", "Search", {"type": "object"})
    forbidden = converse_body(_tool_history(tools=[spec], tool_choice="none"))
    assert forbidden["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "search_products",
                    "description": "Search",
                    "inputSchema": {"json": {"type": "object"}},
                }
            }
        ]
    }
    # No tools in the request: the ones the history called, declared bare.
    bare = converse_body(_tool_history())
    assert [t["toolSpec"]["name"] for t in bare["toolConfig"]["tools"]] == ["search_products"]
    assert "toolChoice" not in bare["toolConfig"]
    # Without such blocks, "none" still leaves the tools out.
    plain = ChatRequest(messages=[Message("user", "hi")], tools=[spec], tool_choice="none")
    assert "toolConfig" not in converse_body(plain)


async def test_request_body_is_converse_format(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = bedrock_model()
    fake.script(model, Reply(parts=converse_text(["ok"])))
    request = ChatRequest(
        messages=[
            Message("system", "Be brief"),
            Message("user", "find desks"),
            Message("assistant", None, [ToolCall("t1", "search_products", '{"query": "desk"}')]),
            Message("tool", "3 desks", tool_call_id="t1"),
            Message("user", "thanks"),
        ],
        tools=[ToolSpec("search_products", "Search", {"type": "object"})],
        max_tokens=100,
        temperature=0.5,
    )
    await collect(make_gateway({"power": [f"bedrock/{model}"]}).stream(request))
    body = fake.requests(model)[0].json()
    assert body["system"] == [{"text": "Be brief"}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "t1", "name": "search_products", "input": {"query": "desk"}}}
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "3 desks"}]}},
        {"text": "thanks"},
    ]
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.5}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}

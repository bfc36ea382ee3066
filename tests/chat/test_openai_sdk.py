"""/ai/v1 driven by the official `openai` SDK, with the user's access token as the API key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import openai
import pytest

from tests.chat.conftest import BEHAVIOURS
from tests.chat.fake_provider import USAGE, reply_to
from tests.support.server import ServerThread


@pytest.fixture
async def sdk(chat_server: ServerThread, token: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=chat_server.url + "/ai/v1", api_key=token, max_retries=0
    ) as client:
        yield client


async def test_models_lists_the_aliases(sdk: openai.AsyncOpenAI) -> None:
    listed = [m.id async for m in sdk.models.list()]
    assert listed == list(BEHAVIOURS)


async def test_a_completion_without_streaming(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model="text", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == reply_to("ping")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake/text"
    assert completion.usage is not None
    assert completion.usage.total_tokens == USAGE["total_tokens"]


async def test_a_streamed_completion_with_usage(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="text",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "pong"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == reply_to("pong")
    assert usage is not None
    assert usage.completion_tokens == USAGE["completion_tokens"]


async def test_tools_pass_through_both_ways(sdk: openai.AsyncOpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_products",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    first = await sdk.chat.completions.create(
        model="tools", messages=[{"role": "user", "content": "search lamps"}], tools=tools
    )
    (call,) = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "search_products"
    assert json.loads(call.function.arguments) == {"query": "lamps"}
    second = await sdk.chat.completions.create(
        model="tools",
        tools=tools,
        messages=[
            {"role": "user", "content": "search lamps"},
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": '{"products": []}'},
        ],
    )
    assert second.choices[0].message.content == 'Found: {"products": []}'


async def test_a_bad_key_is_refused(chat_server: ServerThread) -> None:
    async with openai.AsyncOpenAI(
        base_url=chat_server.url + "/ai/v1", api_key="not-a-token", max_retries=0
    ) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(
                model="text", messages=[{"role": "user", "content": "hi"}]
            )


async def test_an_unknown_model_is_not_found(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await sdk.chat.completions.create(
            model="gpt-nothing", messages=[{"role": "user", "content": "hi"}]
        )


async def test_a_target_an_alias_lists_is_served(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model="fake/text", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.model == "fake/text"


async def test_a_target_no_alias_lists_is_not_found(sdk: openai.AsyncOpenAI) -> None:
    # The provider is configured; the model is simply not one the operator offers.
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.chat.completions.create(
            model="fake/unlisted", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"


async def test_a_failing_provider_is_an_api_error(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk.chat.completions.create(model="fail", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502

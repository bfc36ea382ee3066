"""/ai/v1's cost bounds, attacked with the official `openai` SDK and raw HTTP: message length,
output tokens and body size. What the provider receives is read from the fake provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from app.settings import Settings
from tests.chat.conftest import unique
from tests.chat.fake_provider import FakeProvider, reply_to
from tests.support.server import ServerThread


@pytest.fixture
async def sdk(chat_server: ServerThread, token: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=chat_server.url + "/ai/v1", api_key=token, max_retries=0
    ) as client:
        yield client


@pytest.fixture
def cap(chat_settings: Settings) -> int:
    return chat_settings.ai.max_output_tokens


@pytest.fixture
def max_chars(chat_settings: Settings) -> int:
    return chat_settings.chat.max_message_chars


def _sent(fake_provider: FakeProvider, text: str) -> dict[str, object]:
    (body,) = fake_provider.bodies_mentioning(text)
    return body


async def test_a_message_over_the_chat_cap_is_refused(
    sdk: openai.AsyncOpenAI, fake_provider: FakeProvider, max_chars: int
) -> None:
    text = unique("long")
    long = text + "x" * (max_chars - len(text) + 1)
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(
            model="text",
            messages=[{"role": "system", "content": "hi"}, {"role": "user", "content": long}],
        )
    assert caught.value.status_code == 400
    assert f"at most {max_chars} characters" in caught.value.message
    assert caught.value.param == "messages"
    assert fake_provider.bodies_mentioning(text) == []


async def test_text_parts_and_tool_arguments_count_towards_the_cap(
    sdk: openai.AsyncOpenAI, max_chars: int
) -> None:
    half = "y" * (max_chars // 2 + 1)
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(
            model="text",
            messages=[
                {"role": "user", "content": [{"type": "text", "text": half}] * 2},
            ],
        )
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": half * 2}}
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(
            model="text",
            messages=[
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": [call]},  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
        )


async def test_a_message_of_exactly_the_cap_is_served(
    sdk: openai.AsyncOpenAI, fake_provider: FakeProvider, max_chars: int
) -> None:
    text = unique("edge")
    exact = text + "z" * (max_chars - len(text))
    completion = await sdk.chat.completions.create(
        model="text", messages=[{"role": "user", "content": exact}]
    )
    assert completion.choices[0].message.content == reply_to(exact)
    assert _sent(fake_provider, text)["messages"] == [
        {"role": "user", "content": exact},
    ]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_more_output_tokens_than_the_cap_are_refused_naming_it(
    sdk: openai.AsyncOpenAI, fake_provider: FakeProvider, cap: int, field: str
) -> None:
    text = unique("greedy")
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(
            model="text",
            messages=[{"role": "user", "content": text}],
            extra_body={field: cap + 1},
        )
    assert str(cap) in caught.value.message
    assert caught.value.param == "max_tokens"
    assert fake_provider.bodies_mentioning(text) == []


async def test_differing_token_limits_are_refused(sdk: openai.AsyncOpenAI, cap: int) -> None:
    # Otherwise the one over the cap could hide behind the other.
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(
            model="text",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=cap * 100,
            max_completion_tokens=10,
        )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_request_naming_no_limit_is_sent_with_the_cap(
    sdk: openai.AsyncOpenAI, fake_provider: FakeProvider, cap: int, stream: bool
) -> None:
    text = unique("open-ended")
    if stream:
        chunks = await sdk.chat.completions.create(
            model="text", messages=[{"role": "user", "content": text}], stream=True
        )
        async for _ in chunks:
            pass
    else:
        await sdk.chat.completions.create(
            model="text", messages=[{"role": "user", "content": text}]
        )
    assert _sent(fake_provider, text)["max_tokens"] == cap


async def test_a_limit_within_the_cap_is_sent_as_asked(
    sdk: openai.AsyncOpenAI, fake_provider: FakeProvider, cap: int
) -> None:
    text = unique("modest")
    await sdk.chat.completions.create(
        model="text", messages=[{"role": "user", "content": text}], max_completion_tokens=cap
    )
    assert _sent(fake_provider, text)["max_tokens"] == cap


def _huge_body(size: int) -> bytes:
    content = "w" * size
    return json.dumps(
        {"model": "text", "messages": [{"role": "user", "content": content}]}
    ).encode()


async def test_a_body_over_the_server_cap_is_413_declared_or_streamed(
    chat_client: httpx.AsyncClient, token: str, chat_settings: Settings
) -> None:
    body = _huge_body(chat_settings.server.max_body_bytes)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    url = "/ai/v1/chat/completions"
    declared = await chat_client.post(url, content=body, headers=headers)
    assert declared.status_code == 413

    async def pieces() -> AsyncIterator[bytes]:
        # Chunked, with no Content-Length to refuse it by.
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    streamed = await chat_client.post(url, content=pieces(), headers=headers)
    assert streamed.status_code == 413

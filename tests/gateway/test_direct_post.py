"""The OpenAI-compatible provider's direct path on the aiohttp transport (gateway/
aiohttp_transport.py, `DirectPost`) sends what httpx's path sends and reads what it reads."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest
from fake_upstream import HELLO, OPENAI_KEY, FakeUpstream, Reply, collect, text_stream, unique

from gateway import AISettings, ChatRequest, Message, create_http_client
from gateway.errors import ProviderError
from gateway.openai_compat import OpenAICompatProvider
from gateway.providers import http_timeout

_HEADERS = {"X-Title": "reactor"}
# Not ASCII: httpx sends `json=` as UTF-8, not \u escapes.
_REQUEST = ChatRequest(messages=[Message("user", "Grüße, 世界")], temperature=0.5)


def _provider(fake: FakeUpstream, http: httpx.AsyncClient) -> OpenAICompatProvider:
    timeout = http_timeout(AISettings())
    return OpenAICompatProvider("fake", http, fake.url + "/v1", OPENAI_KEY, timeout, _HEADERS)


async def _sent(fake: FakeUpstream, provider: OpenAICompatProvider) -> tuple[Any, list[Any]]:
    model = unique()
    fake.script(model, Reply(parts=text_stream(["Hello", " wörld"])))
    events = await collect(provider.stream(model, _REQUEST))
    (request,) = fake.requests(model)
    headers = dict(request.headers)
    return (request.raw_path, headers, request.body.replace(model.encode(), b"M")), events


async def test_the_direct_path_sends_and_reads_what_httpx_does(
    fake: FakeUpstream, http: httpx.AsyncClient
) -> None:
    direct = _provider(fake, http)
    assert direct._direct is not None
    through_httpx = _provider(fake, http)
    through_httpx._direct = None
    assert await _sent(fake, direct) == await _sent(fake, through_httpx)


async def test_a_client_with_cookies_goes_through_httpx(fake: FakeUpstream) -> None:
    async with create_http_client(AISettings()) as http:
        http.cookies.set("session", "x")
        assert _provider(fake, http)._direct is None
        # And serves the same.
        model = unique()
        fake.script(model, Reply(parts=text_stream(["Hello"])))
        assert len(await collect(_provider(fake, http).stream(model, HELLO))) == 3


async def test_a_compressed_stream_is_decoded(fake: FakeUpstream, http: httpx.AsyncClient) -> None:
    model = unique()
    body = gzip.compress(b"".join(p for p in text_stream(["Hi", " there"]) if isinstance(p, bytes)))
    # Split mid-member, as a compressed stream arrives.
    reply = Reply(headers={"content-encoding": "gzip"}, parts=[body[:20], body[20:]])
    fake.script(model, reply)
    direct = _provider(fake, http)
    assert direct._direct is not None
    events = await collect(direct.stream(model, HELLO))
    assert [getattr(e, "text", None) for e in events][:2] == ["Hi", " there"]


async def test_a_compressed_error_keeps_its_detail(
    fake: FakeUpstream, http: httpx.AsyncClient
) -> None:
    error = b'{"error": {"code": "context_length_exceeded", "message": "too long"}}'
    messages = []
    for direct in (True, False):
        model = unique()
        headers = {"content-encoding": "gzip", "content-type": "application/json"}
        fake.script(model, Reply(status=400, headers=headers, parts=[gzip.compress(error)]))
        provider = _provider(fake, http)
        if not direct:
            provider._direct = None
        with pytest.raises(ProviderError) as raised:
            await collect(provider.stream(model, HELLO))
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "context_length_exceeded" in messages[0]

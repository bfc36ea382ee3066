"""Retries, fallbacks, timeouts, cooldowns and cancellation, each against the fake upstream."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fake_upstream import (
    HELLO,
    FakeUpstream,
    GatewayFactory,
    Reply,
    chunk,
    collect,
    free_port_refusing,
    sse,
    text_stream,
    unique,
)

from gateway import ErrorEvent, Finished, Gateway, Started, TextDelta
from gateway.aiohttp_transport import AiohttpTransport
from gateway.config import ProviderSettings

OK = Reply(parts=text_stream(["fine"]))


def server_error(status: int = 500, **headers: str) -> Reply:
    return Reply(status, headers, [b'{"error": {"message": "boom", "code": "server_error"}}'])


async def test_429_with_retry_after_is_retried_on_the_same_target(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, server_error(429, **{"retry-after": "0"}), OK)
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert events[0] == Started(f"fake/{model}")
    assert events[-1] == Finished("stop")
    assert len(fake.requests(model)) == 2


async def test_500s_use_up_retries_then_fall_back_to_the_next_target(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    broken, spare = unique(), unique()
    fake.script(broken, server_error(500))
    fake.script(spare, OK)
    gateway = make_gateway({"fast": [f"fake/{broken}", f"fake/{spare}"]}, max_retries=2)
    events = await collect(gateway.stream(HELLO))
    assert events[0] == Started(f"fake/{spare}")
    assert TextDelta("fine") in events
    assert len(fake.requests(broken)) == 3


async def test_connection_refused_is_retried_then_falls_back(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    spare = unique()
    fake.script(spare, OK)
    dead = ProviderSettings(base_url=f"http://127.0.0.1:{free_port_refusing()}/v1")
    gateway = make_gateway({"fast": ["dead/m", f"fake/{spare}"]}, providers={"dead": dead})
    events = await collect(gateway.stream(HELLO))
    assert events[0] == Started(f"fake/{spare}")


async def test_client_error_is_not_retried(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    fake.script(model, Reply(400, {}, [b'{"error": {"message": "bad", "code": 400}}']))
    events = await collect(make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO))
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].kind == "invalid_request"
    assert len(fake.requests(model)) == 1


async def test_retry_after_beyond_the_limit_moves_on_instead_of_waiting(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    busy, spare = unique(), unique()
    fake.script(busy, server_error(429, **{"retry-after": "3600"}))
    fake.script(spare, OK)
    gateway = make_gateway({"fast": [f"fake/{busy}", f"fake/{spare}"]}, max_retry_after=10)
    events = await collect(gateway.stream(HELLO))
    assert events[0] == Started(f"fake/{spare}")
    assert len(fake.requests(busy)) == 1


async def test_first_token_timeout_falls_back(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    slow, spare = unique(), unique()
    # The spare must answer within the same budget: wide enough for a loaded machine.
    fake.script(slow, Reply(parts=[5.0, *text_stream(["late"])]))
    fake.script(spare, OK)
    gateway = make_gateway(
        {"fast": [f"fake/{slow}", f"fake/{spare}"]}, first_token_timeout=1.0, max_retries=0
    )
    events = await collect(gateway.stream(HELLO))
    assert events[0] == Started(f"fake/{spare}")


async def test_stall_between_chunks_ends_the_stream_with_an_error(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    stalled, spare = unique(), unique()
    parts = [sse(chunk({"content": "Hi"})), 2.0, *text_stream([" there"])]
    fake.script(stalled, Reply(parts=parts))
    fake.script(spare, OK)
    gateway = make_gateway({"fast": [f"fake/{stalled}", f"fake/{spare}"]}, chunk_timeout=0.3)
    events = await collect(gateway.stream(HELLO))
    assert events[:2] == [Started(f"fake/{stalled}"), TextDelta("Hi")]
    assert isinstance(events[2], ErrorEvent)
    assert events[2].kind == "timeout"
    assert len(events) == 3
    assert fake.requests(spare) == []


async def test_total_timeout_ends_a_stream_that_keeps_talking(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    parts: list[bytes | float] = []
    for _ in range(60):
        parts += [sse(chunk({"content": "."})), 0.1]
    fake.script(model, Reply(parts=[*parts, *text_stream([])]))
    # 1.5 s of a 6 s stream: room for the first token on a loaded machine.
    gateway = make_gateway({"fast": [f"fake/{model}"]}, total_timeout=1.5)
    events = await collect(gateway.stream(HELLO))
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].kind == "timeout"
    assert 1 <= sum(isinstance(e, TextDelta) for e in events) < 60


async def test_target_that_keeps_failing_cools_down(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    broken, spare = unique(), unique()
    fake.script(broken, server_error(503))
    fake.script(spare, OK)
    gateway = make_gateway(
        {"fast": [f"fake/{broken}", f"fake/{spare}"]},
        max_retries=0,
        cooldown_failures=2,
        cooldown_seconds=600,
    )
    for _ in range(4):
        events = await collect(gateway.stream(HELLO))
        assert events[0] == Started(f"fake/{spare}")
    assert len(fake.requests(broken)) == 2


def _client_error(status: int) -> Reply:
    return Reply(status, {}, [b'{"error": {"message": "bad request", "code": %d}}' % status])


def _in_stream_error(code: int) -> Reply:
    return Reply(parts=[sse({"error": {"code": code, "message": "refused"}})])


_REQUEST_FAULTS = {
    "http-400": _client_error(400),
    "http-404": _client_error(404),
    "http-413": _client_error(413),
    "http-422": _client_error(422),
    "in-stream-400": _in_stream_error(400),
}
_PROVIDER_FAULTS = {
    "http-500": server_error(500),
    "http-503": server_error(503),
    "in-stream-502": _in_stream_error(502),
    "http-401": _client_error(401),
}


def _two_target_gateway(make_gateway: GatewayFactory, first: str, spare: str) -> Gateway:
    return make_gateway(
        {"fast": [f"fake/{first}", f"fake/{spare}"]},
        max_retries=0,
        cooldown_failures=2,
        cooldown_seconds=600,
    )


@pytest.mark.parametrize("reply", _REQUEST_FAULTS.values(), ids=_REQUEST_FAULTS.keys())
async def test_a_target_refusing_requests_never_cools_down(
    fake: FakeUpstream, make_gateway: GatewayFactory, reply: Reply
) -> None:
    picky, spare = unique(), unique()
    fake.script(picky, reply)
    fake.script(spare, OK)
    gateway = _two_target_gateway(make_gateway, picky, spare)
    for _ in range(6):
        events = await collect(gateway.stream(HELLO))
        assert events[0] == Started(f"fake/{spare}")
    # Three times the cooldown threshold, and every request still went to it first.
    assert len(fake.requests(picky)) == 6


@pytest.mark.parametrize("reply", _PROVIDER_FAULTS.values(), ids=_PROVIDER_FAULTS.keys())
async def test_a_target_at_fault_cools_down(
    fake: FakeUpstream, make_gateway: GatewayFactory, reply: Reply
) -> None:
    broken, spare = unique(), unique()
    fake.script(broken, reply)
    fake.script(spare, OK)
    gateway = _two_target_gateway(make_gateway, broken, spare)
    for _ in range(6):
        events = await collect(gateway.stream(HELLO))
        assert events[0] == Started(f"fake/{spare}")
    assert len(fake.requests(broken)) == 2


async def test_when_every_target_fails_the_stream_is_one_error_event(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    a, b = unique(), unique()
    fake.script(a, server_error(500))
    fake.script(b, server_error(502))
    events = await collect(make_gateway({"fast": [f"fake/{a}", f"fake/{b}"]}).stream(HELLO))
    (error,) = events
    assert isinstance(error, ErrorEvent)
    assert error.kind == "unavailable"
    assert "HTTP" not in error.message


def _checked_out(http: httpx.AsyncClient) -> int:
    """Connections of the client's pool serving a response right now. Checked the moment a
    close returns, it tells an explicit close from Python's async-generator finalizer, which
    would close the response too, but only on a later turn of the event loop."""
    transport = http._transport  # the app's, gateway/aiohttp_transport.py
    assert isinstance(transport, AiohttpTransport)
    return transport.connections_in_use()


async def test_closing_the_stream_closes_the_upstream_connection(
    fake: FakeUpstream, make_gateway: GatewayFactory, http: httpx.AsyncClient
) -> None:
    model = unique()
    fake.script(model, Reply(forever=sse(chunk({"content": "la "}))))
    stream = make_gateway({"fast": [f"fake/{model}"]}).stream(HELLO)
    assert await anext(stream) == Started(f"fake/{model}")
    assert await anext(stream) == TextDelta("la ")
    assert _checked_out(http) == 1
    await stream.aclose()
    assert _checked_out(http) == 0
    assert await asyncio.to_thread(fake.closed(model).wait, 10)


async def test_cancelling_the_consuming_task_closes_the_upstream_connection(
    fake: FakeUpstream, make_gateway: GatewayFactory, http: httpx.AsyncClient
) -> None:
    model = unique()
    fake.script(model, Reply(forever=sse(chunk({"content": "la "}))))
    gateway = make_gateway({"fast": [f"fake/{model}"]})
    first = asyncio.Event()

    async def consume() -> None:
        async for event in gateway.stream(HELLO):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    assert await asyncio.gather(task, return_exceptions=True)
    assert _checked_out(http) == 0
    assert await asyncio.to_thread(fake.closed(model).wait, 10)


async def test_concurrency_cap_holds_streams_to_the_limit(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    model = unique()
    parts: list[bytes | float] = [sse(chunk({"content": "a"})), 0.05, *text_stream(["b"])]
    fake.script(model, Reply(parts=parts))
    capped = ProviderSettings(base_url=fake.url + "/v1", max_concurrency=1)
    gateway = make_gateway({"fast": [f"capped/{model}"]}, providers={"capped": capped})
    results = await asyncio.gather(*(collect(gateway.stream(HELLO)) for _ in range(3)))
    assert all(events[-1] == Finished("stop") for events in results)
    assert fake.max_active[model] == 1


async def test_exhausted_requests_per_minute_spill_to_the_next_target(
    fake: FakeUpstream, make_gateway: GatewayFactory
) -> None:
    limited, spare = unique(), unique()
    fake.script(limited, OK)
    fake.script(spare, OK)
    settings = ProviderSettings(base_url=fake.url + "/v1", requests_per_minute=1)
    gateway = make_gateway(
        {"fast": [f"limited/{limited}", f"fake/{spare}"]}, providers={"limited": settings}
    )
    first = await collect(gateway.stream(HELLO))
    second = await collect(gateway.stream(HELLO))
    assert first[0] == Started(f"limited/{limited}")
    assert second[0] == Started(f"fake/{spare}")
    assert len(fake.requests(limited)) == 1

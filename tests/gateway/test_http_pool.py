"""The gateway's HTTP client keeps its pool bookkeeping linear in the pool's connections."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpcore
import httpx
import pytest
from fake_upstream import ServerThread

from gateway import AISettings, create_http_client

IDLE = 40


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ServerThread(_ok) as server:
        yield server.url


async def _hold(streams: AsyncExitStack, client: httpx.AsyncClient, url: str) -> None:
    """A response read to its end but not yet closed: its connection is not idle yet."""
    response = await streams.enter_async_context(client.stream("GET", url))
    # Straight from the transport: httpx's own readers close the response at its end.
    assert isinstance(response.stream, httpx.AsyncByteStream)
    assert b"".join([part async for part in response.stream]) == b"ok"


async def _leave_idle(client: httpx.AsyncClient, url: str, count: int) -> None:
    """`count` connections in the pool, all idle: as many streams open at once, then closed."""
    async with AsyncExitStack() as streams:
        for _ in range(count):
            await _hold(streams, client, url)


async def test_a_request_checks_each_idle_connection_a_bounded_number_of_times(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with create_http_client(AISettings()) as client:
        await _leave_idle(client, url, IDLE)
        calls = 0
        is_idle = httpcore.AsyncHTTPConnection.is_idle

        def counting(connection: httpcore.AsyncHTTPConnection) -> bool:
            nonlocal calls
            calls += 1
            return is_idle(connection)

        monkeypatch.setattr(httpcore.AsyncHTTPConnection, "is_idle", counting)
        assert (await client.get(url)).text == "ok"
    # Start and end of the request each look at every connection a few times; httpcore's
    # own pool counts all connections once per idle one, IDLE * IDLE times per event.
    assert calls <= 8 * IDLE


async def test_idle_connections_are_kept_up_to_the_keepalive_limit_while_others_stream(
    url: str,
) -> None:
    async with create_http_client(AISettings()) as client:
        pool = client._transport._pool  # type: ignore[attr-defined]
        keepalive = pool._max_keepalive_connections
        async with AsyncExitStack() as streams:
            # More streams than the keep-alive limit stay open while a few others finish.
            for _ in range(keepalive + 5):
                await _hold(streams, client, url)
            await _leave_idle(client, url, 3)
            assert sum(c.is_idle() for c in pool.connections) == 3
        assert sum(c.is_idle() for c in pool.connections) == keepalive

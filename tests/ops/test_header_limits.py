"""`reactor-chat serve` answers a request head over `[server] max_header_bytes` (32 KiB) or
`max_headers` (100) with 431 before the app sees it, HTTP and WebSocket handshake alike,
and goes on serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.ops.serving import Served, serve

# A guard that turns a server that never answers into a failure, not a measure.
GUARD = 60


@pytest.fixture(scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> AsyncIterator[Served]:
    async with serve(tmp_path_factory.mktemp("headers"), database_url) as server:
        yield server


async def _raw(served: Served, head: bytes) -> bytes:
    """Send `head` on a connection of its own; everything the server answers until it closes."""
    address = urlsplit(served.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), GUARD)
    finally:
        writer.close()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def _still_serves(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        assert (await client.get("/healthz")).status_code == 200


def _request(*headers: bytes) -> bytes:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    return head + b"".join(headers) + b"\r\n"


async def test_twenty_thousand_headers_are_refused(served: Served) -> None:
    headers = [b"X-H%d: v\r\n" % i for i in range(20_000)]
    answer = await _raw(served, _request(*headers))
    assert _status(answer) == 431
    await _still_serves(served)


async def test_a_64_kib_header_is_refused(served: Served) -> None:
    answer = await _raw(served, _request(b"X-Big: " + b"a" * 65_536 + b"\r\n"))
    assert _status(answer) == 431
    await _still_serves(served)


async def test_a_header_that_never_ends_is_refused(served: Served) -> None:
    # No line end: the parser never completes the header, so only the bytes fed count.
    answer = await _raw(served, b"GET /healthz HTTP/1.1\r\nX-Endless: " + b"a" * 1_000_000)
    assert _status(answer) == 431
    await _still_serves(served)


async def test_a_head_within_the_limits_is_served(served: Served) -> None:
    headers = [b"X-H%d: v\r\n" % i for i in range(90)]
    answer = await _raw(served, _request(*headers, b"X-Big: " + b"a" * 20_000 + b"\r\n"))
    assert _status(answer) == 200


@pytest.mark.parametrize(
    "headers",
    [
        [(f"X-H{i}", "v") for i in range(200)],
        [("X-Big", "a" * 65_536)],
    ],
    ids=["200 headers", "a 64 KiB header"],
)
async def test_a_websocket_handshake_over_the_limits_is_refused(
    served: Served, headers: list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            served.ws_url, subprotocols=["graphql-transport-ws"], additional_headers=headers
        )  # type: ignore[list-item]
    assert refused.value.response.status_code == 431
    await _still_serves(served)


async def test_the_limits_hold_in_every_worker(tmp_path: Path, database_url: str) -> None:
    # With several workers uvicorn hands each its configuration, the protocol included.
    async with serve(tmp_path, database_url, "--workers", "2") as workers:
        for _ in range(4):
            answer = await _raw(workers, _request(*[b"X-H%d: v\r\n" % i for i in range(200)]))
            assert _status(answer) == 431
        await _still_serves(workers)

"""What the chosen libraries cost per streamed delta on this machine, before any of our code:
the floor under the chat benchmark's capacity figure.

A streaming turn reads each token from the provider with httpx and sends it to the client as a
Strawberry subscription event over uvicorn's WebSocket. Each is measured alone, at the chat
benchmark's pace (20 tokens/s per stream):

- httpx: CPU per chunk read from a paced stream (`aiter_raw`, no parsing), and per request;
- Strawberry on uvicorn: the server's CPU per event of a minimal one-field subscription
  (bench/floor_app.py), run with the chat benchmark's uvicorn options;
- the event loop alone: a uvloop relay copying each message from one socket to another.
Against them, the budget: one core over 500 turns x 20 tokens/s is 100 us per delta.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from websockets.asyncio.client import connect

from bench.chat_bench import UVICORN_OPTIONS, cpu_seconds
from gateway.config import AISettings
from gateway.providers import create_http_client
from tests.support.server import free_port

RESULTS = Path(__file__).parent / "results" / "stack_floor.json"
ROOT = Path(__file__).resolve().parent.parent
TOKENS_PER_SECOND = 20
STREAMS = 100
TARGET_TURNS = 500
REPEATS = 3


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT)


async def _wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"nothing listens on {port}")


# httpx ---------------------------------------------------------------------------------------


async def _httpx_cpu(url: str, tokens: int) -> float:
    """Process CPU seconds for STREAMS paced streams of `tokens` chunks, read raw."""
    http = create_http_client(AISettings())
    body = {"model": f"tps={TOKENS_PER_SECOND},n={tokens}", "messages": []}

    async def one() -> None:
        async with http.stream("POST", url, json=body) as response:
            async for _ in response.aiter_raw():
                pass

    try:
        await asyncio.gather(*(one() for _ in range(STREAMS)))  # connections opened
        before = time.process_time()
        await asyncio.gather(*(one() for _ in range(STREAMS)))
        return time.process_time() - before
    finally:
        await http.aclose()


def _httpx() -> dict[str, float]:
    port = free_port()
    provider = _start(["-m", "bench.fake_openai", str(port)])
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    long, short = 200, 2
    try:
        uvloop.run(_wait_port(port))
        per_chunk, per_request = [], []
        for _ in range(REPEATS):
            # Two lengths, so the per-request part and the per-chunk part come apart. Each
            # stream also carries its role, finish and [DONE] chunks: tokens + 3.
            cpu_long = uvloop.run(_httpx_cpu(url, long))
            cpu_short = uvloop.run(_httpx_cpu(url, short))
            chunk = (cpu_long - cpu_short) / (STREAMS * (long - short))
            per_chunk.append(chunk)
            per_request.append(cpu_short / STREAMS - (short + 3) * chunk)
    finally:
        provider.terminate()
        provider.wait(timeout=30)
    return {
        "us_per_chunk": round(statistics.median(per_chunk) * 1e6, 1),
        "us_per_request": round(statistics.median(per_request) * 1e6, 1),
    }


# Strawberry on uvicorn -----------------------------------------------------------------------

SUBSCRIBE = "subscription($n: Int!) { chat(n: $n) { text } }"


async def _subscriptions(port: int, server_pid: int, events: int) -> tuple[float, list[float]]:
    """Server CPU seconds per event over the middle of STREAMS paced subscriptions, and each
    event's latency (made -> received) in ms."""
    latencies: list[float] = []

    async def one(offset: float) -> None:
        async with connect(
            f"ws://127.0.0.1:{port}/",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=None,
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.recv()
            await asyncio.sleep(offset)
            payload = {"query": SUBSCRIBE, "variables": {"n": events}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "next":
                    break
                stamp = int(message["payload"]["data"]["chat"]["text"])
                latencies.append((time.time_ns() - stamp) / 1e6)

    rng = random.Random(events)
    streams = asyncio.gather(*(one(rng.uniform(0, 1 / TOKENS_PER_SECOND)) for _ in range(STREAMS)))
    # The middle of the streams: all of them open, none of them starting or ending.
    window = events / TOKENS_PER_SECOND / 2
    await asyncio.sleep(window / 2)
    before = cpu_seconds(server_pid)
    await asyncio.sleep(window)
    cpu = cpu_seconds(server_pid) - before
    await streams
    return cpu / (window * STREAMS * TOKENS_PER_SECOND), latencies


def _strawberry() -> dict[str, float]:
    port = free_port()
    server = _start(
        [
            "-m",
            "uvicorn",
            "bench.floor_app:app",
            "--port",
            str(port),
            # uvicorn's own protocol, which the app's (app/graceful_ws.py) extends.
            "--ws",
            "websockets-sansio",
            *UVICORN_OPTIONS,
        ]
    )
    try:
        asyncio.run(_wait_port(port))
        asyncio.run(_subscriptions(port, server.pid, 20))  # warm-up
        per_event, p99 = [], []
        for _ in range(REPEATS):
            cpu, latencies = asyncio.run(_subscriptions(port, server.pid, 200))
            per_event.append(cpu)
            p99.append(statistics.quantiles(latencies, n=100)[98])
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "us_per_event": round(statistics.median(per_event) * 1e6, 1),
        "p99_latency_ms": round(statistics.median(p99), 2),
    }


# The event loop alone ------------------------------------------------------------------------


class _Sink(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


class _Relay:
    """Pairs the n-th connection to the upstream port with the n-th to the downstream one,
    and copies what arrives upstream to its pair."""

    def __init__(self) -> None:
        self.downs: list[asyncio.WriteTransport] = []
        self.ups = 0

    def down(self) -> asyncio.Protocol:
        downs = self.downs

        class Down(_Sink):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                downs.append(transport)  # type: ignore[arg-type]

        return Down()

    def up(self) -> asyncio.Protocol:
        pair = self.downs[self.ups]
        self.ups += 1

        class Up(_Sink):
            def data_received(self, data: bytes) -> None:
                pair.write(data)

        return Up()


async def _serve_relay(up_port: int, down_port: int) -> None:
    loop = asyncio.get_running_loop()
    relay = _Relay()
    await loop.create_server(relay.down, "127.0.0.1", down_port)
    await loop.create_server(relay.up, "127.0.0.1", up_port)
    await asyncio.Event().wait()


async def _drive_relay(up_port: int, down_port: int, relay_pid: int, pairs: int) -> float:
    loop = asyncio.get_running_loop()
    await _wait_port(down_port)
    await _wait_port(up_port)
    # Downstream connections first: the relay pairs them in order of arrival.
    for _ in range(pairs):
        await loop.create_connection(_Sink, "127.0.0.1", down_port)
    await asyncio.sleep(0.5)
    ups: list[asyncio.WriteTransport] = []
    for _ in range(pairs):
        transport, _ = await loop.create_connection(_Sink, "127.0.0.1", up_port)
        ups.append(transport)
    await asyncio.sleep(0.5)
    message = b"x" * 200  # about a text delta's `next` message

    async def feed(transport: asyncio.WriteTransport, offset: float) -> None:
        await asyncio.sleep(offset)
        while True:
            transport.write(message)
            await asyncio.sleep(1 / TOKENS_PER_SECOND)

    rng = random.Random(pairs)
    feeders = [asyncio.create_task(feed(t, rng.uniform(0, 1 / TOKENS_PER_SECOND))) for t in ups]
    await asyncio.sleep(2)
    before = cpu_seconds(relay_pid)
    await asyncio.sleep(5)
    cpu = cpu_seconds(relay_pid) - before
    for task in feeders:
        task.cancel()
    for transport in ups:
        transport.close()
    return cpu / (5 * pairs * TOKENS_PER_SECOND)


def _event_loop() -> dict[str, float]:
    up_port, down_port = free_port(), free_port()
    relay = _start(["-m", "bench.stack_floor_bench", "relay", str(up_port), str(down_port)])
    try:
        cpu = uvloop.run(_drive_relay(up_port, down_port, relay.pid, TARGET_TURNS))
    finally:
        relay.terminate()
        relay.wait(timeout=30)
    return {"us_per_message": round(cpu * 1e6, 1)}


def main() -> None:
    results: dict[str, Any] = {
        "tokens_per_second": TOKENS_PER_SECOND,
        "budget_us_per_delta": 1e6 / (TARGET_TURNS * TOKENS_PER_SECOND),
        "httpx": _httpx(),
        "strawberry": _strawberry(),
        "event_loop": _event_loop(),
    }
    floor = results["httpx"]["us_per_chunk"] + results["strawberry"]["us_per_event"]
    results["floor_us_per_delta"] = round(floor, 1)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    rows = [
        ("budget: one core / (500 turns x 20 tokens/s)", results["budget_us_per_delta"]),
        ("httpx: reading one chunk of a paced stream", results["httpx"]["us_per_chunk"]),
        (
            "Strawberry + uvicorn: sending one subscription event",
            results["strawberry"]["us_per_event"],
        ),
        ("floor: the two together", floor),
        ("event loop alone: relaying one message", results["event_loop"]["us_per_message"]),
    ]
    print(f"{'CPU per delta':<56} {'us':>8}")
    for name, value in rows:
        print(f"{name:<56} {value:>8.1f}")
    print(f"httpx per request: {results['httpx']['us_per_request']:.0f} us")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        uvloop.run(_serve_relay(int(sys.argv[2]), int(sys.argv[3])))
    else:
        main()

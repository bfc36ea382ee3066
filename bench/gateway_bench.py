"""The gateway's cost over calling the same fake upstream directly with httpx.

- latency per request: p50/p99 of a short stream, gateway vs. a direct httpx stream;
- CPU per delta: process time over long streams, gateway minus direct;
- memory: RSS after 100k streamed deltas against RSS after a warm-up.
The direct client parses SSE lines and JSON like any consumer must, so the difference is
what routing, events, retries' bookkeeping and metrics add.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from gateway import AISettings, ChatRequest, Gateway, Message, TextDelta
from gateway.config import ProviderSettings

RESULTS = Path(__file__).parent / "results" / "gateway.json"
REQUESTS = 2000
SHORT = 5
LONG = 10_000
LONG_STREAMS = 10
MEMORY_DELTAS = 100_000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _direct(http: httpx.AsyncClient, url: str, count: int) -> int:
    body = {
        "model": f"n={count}",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    deltas = 0
    async with http.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    deltas += 1
    return deltas


async def _via_gateway(gateway: Gateway, count: int) -> int:
    request = ChatRequest(messages=[Message("user", "hi")], model=f"bench/n={count}")
    deltas = 0
    async for event in gateway.stream(request):
        if type(event) is TextDelta:
            deltas += 1
    return deltas


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _run(base_url: str) -> dict[str, Any]:
    url = base_url + "/v1/chat/completions"
    settings = AISettings(
        providers={"bench": ProviderSettings(base_url=base_url + "/v1")},
        aliases={"fast": ["bench/n=5"]},
        # The stream length is chosen per request through the raw target's name.
        allow_any_target=True,
    )
    async with httpx.AsyncClient(timeout=30) as http:
        gateway = Gateway(settings, http)
        # Warm up both paths: connections, imports, metric children.
        for _ in range(200):
            assert await _direct(http, url, SHORT) == SHORT
            assert await _via_gateway(gateway, SHORT) == SHORT

        direct_ms: list[float] = []
        gateway_ms: list[float] = []
        for _ in range(REQUESTS):
            start = time.perf_counter()
            await _direct(http, url, SHORT)
            direct_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await _via_gateway(gateway, SHORT)
            gateway_ms.append((time.perf_counter() - start) * 1000)

        direct_cpu = gateway_cpu = 0.0
        for _ in range(LONG_STREAMS):
            start = time.process_time()
            assert await _direct(http, url, LONG) == LONG
            direct_cpu += time.process_time() - start
            start = time.process_time()
            assert await _via_gateway(gateway, LONG) == LONG
            gateway_cpu += time.process_time() - start
        deltas = LONG * LONG_STREAMS

        gc.collect()
        rss_warm = _rss_bytes()
        streamed = 0
        while streamed < MEMORY_DELTAS:
            streamed += await _via_gateway(gateway, 1000)
        for _ in range(1000):
            await _via_gateway(gateway, SHORT)
        gc.collect()
        rss_after = _rss_bytes()

    return {
        "requests": REQUESTS,
        "deltas_per_request": SHORT,
        "direct_p50_ms": round(statistics.median(direct_ms), 3),
        "direct_p99_ms": round(_pct(direct_ms, 0.99), 3),
        "gateway_p50_ms": round(statistics.median(gateway_ms), 3),
        "gateway_p99_ms": round(_pct(gateway_ms, 0.99), 3),
        "added_p50_ms": round(statistics.median(gateway_ms) - statistics.median(direct_ms), 3),
        "added_p99_ms": round(_pct(gateway_ms, 0.99) - _pct(direct_ms, 0.99), 3),
        "deltas_for_cpu": deltas,
        "direct_cpu_us_per_delta": round(direct_cpu / deltas * 1e6, 2),
        "gateway_cpu_us_per_delta": round(gateway_cpu / deltas * 1e6, 2),
        "added_cpu_us_per_delta": round((gateway_cpu - direct_cpu) / deltas * 1e6, 2),
        "memory_deltas": streamed,
        "rss_after_warmup_mb": round(rss_warm / 2**20, 1),
        "rss_after_100k_deltas_mb": round(rss_after / 2**20, 1),
        "rss_growth_mb": round((rss_after - rss_warm) / 2**20, 2),
    }


def main() -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.fake_openai", str(port)])
    try:
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                time.sleep(0.05)
        results = asyncio.run(_run(base_url))
    finally:
        server.terminate()
        server.wait()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(f"targets: added p50 < 1 ms, added CPU < 20 us/delta, no RSS growth -> {RESULTS}")


if __name__ == "__main__":
    main()

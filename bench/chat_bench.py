"""Chat turns end to end on one uvicorn worker, against a fake provider streaming 20 tokens/s
in a process of its own, driven over graphql-transport-ws from this process.

- added time to first delta: (subscribe -> first TextDelta at the client) minus the
  provider's own (request arrival -> first delta sent), p50/p99 at 50 concurrent turns;
- capacity: concurrent streaming turns at rising levels; at each, the added latency of
  every later delta (provider's send stamp -> client's receipt, same clock); the figure is
  the highest level whose p99 stays under 10 ms;
- memory per idle WebSocket: the server's RSS growth over 1000 acknowledged idle connections.
The client shares the machine's cores with the server and the provider, so the figures
are upper bounds on what the server itself adds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from app.migrations import upgrade
from tests.support.database import create_database, drop_database, server_url
from tests.support.graphql import SECRET, mint_token
from tests.support.server import free_port

RESULTS = Path(__file__).parent / "results" / "chat.json"
TOKENS_PER_SECOND = 20
TTFD_TURNS = 50
LEVELS = (100, 200, 300, 400, 500, 600, 800)
TURN_TOKENS = 40  # 2 s of streaming per turn
IDLE_SOCKETS = 1000
TARGET_MS = 10.0

CHAT = """subscription($c: UUID!, $m: String!) { chat(conversationId: $c, message: $m) {
  __typename ... on TextDelta { text } } }"""


def _config(directory: Path, provider_port: int) -> Path:
    config = directory / "Reactor.toml"
    config.write_text(
        f"""
[server]
data_dir = "{directory}"
log_level = "WARNING"
max_subscriptions_per_connection = 10
[database]
pool_size = 20
max_overflow = 20
[ai]
default_alias = "paced"
max_retries = 0
[ai.aliases]
paced = ["paced/tps={TOKENS_PER_SECOND},n={TURN_TOKENS}"]
short = ["paced/tps={TOKENS_PER_SECOND},n=5"]
[ai.providers.paced]
base_url = "http://127.0.0.1:{provider_port}/v1"
[chat]
max_messages_per_hour = 1000000000
tools = []
""",
        encoding="utf-8",
    )
    return config


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _wait_up(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def _users(http: httpx.AsyncClient, count: int) -> list[tuple[str, str]]:
    """(token, conversation id) for `count` fresh users."""
    semaphore = asyncio.Semaphore(20)

    async def one() -> tuple[str, str]:
        token = mint_token(uuid.uuid4(), ttl=3600)
        async with semaphore:
            response = await http.post(
                "/graphql",
                json={"query": "mutation { createConversation { id } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
        return token, response.json()["data"]["createConversation"]["id"]

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _open(ws_url: str, token: str) -> ClientConnection:
    ws = await connect(ws_url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    while json.loads(await ws.recv())["type"] != "connection_ack":
        pass
    return ws


async def _turn(
    ws: ClientConnection, conversation: str, start: asyncio.Event
) -> tuple[float, list[float]]:
    """(added time to first delta in ms, added latency of each later delta in ms)."""
    await start.wait()
    sent = time.time_ns()
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": CHAT, "variables": {"c": conversation, "m": "hi"}},
            }
        )
    )
    first: float | None = None
    later: list[float] = []
    while True:
        message = json.loads(await ws.recv())
        received = time.time_ns()
        if message["type"] == "complete":
            break
        if message["type"] != "next":
            continue
        payload = message["payload"]
        if payload.get("errors"):
            raise RuntimeError(payload["errors"])
        event = payload["data"]["chat"]
        if event["__typename"] != "TextDelta":
            continue
        stamp = event["text"].strip()
        if first is None:
            arrived, provider_sent = (int(x) for x in stamp.split("/"))
            first = ((received - sent) - (provider_sent - arrived)) / 1e6
        else:
            later.append((received - int(stamp)) / 1e6)
    assert first is not None
    return first, later


async def _level(ws_url: str, users: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    sockets = await asyncio.gather(*(_open(ws_url, token) for token, _ in users))
    start = asyncio.Event()
    try:
        tasks = [
            asyncio.create_task(_turn(ws, conversation, start))
            for ws, (_, conversation) in zip(sockets, users, strict=True)
        ]
        await asyncio.sleep(0.2)
        start.set()
        results = await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return [r[0] for r in results], [x for r in results for x in r[1]]


async def _measure(base: str, server_pid: int) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + "/graphql"
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        pool = await _users(http, max(LEVELS))
        # Warm-up at full width: the pool grows to its size and every connection prepares
        # the turn's statements once; the figures are of a server in its steady state.
        for _ in range(2):
            await _level(ws_url, pool[:TTFD_TURNS])

        firsts, _ = await _level(ws_url, pool[:TTFD_TURNS])
        results["ttfd_added_ms"] = {
            "concurrent_turns": TTFD_TURNS,
            "p50": _percentile(firsts, 50),
            "p99": _percentile(firsts, 99),
        }

        levels = []
        for level in LEVELS:
            firsts, gaps = await _level(ws_url, pool[:level])
            row = {
                "concurrent_turns": level,
                "delta_added_p50_ms": _percentile(gaps, 50),
                "delta_added_p99_ms": _percentile(gaps, 99),
                "ttfd_added_p50_ms": _percentile(firsts, 50),
                "deltas": len(gaps),
            }
            levels.append(row)
            print(
                f"  {level} turns: p99 added per delta {row['delta_added_p99_ms']:.1f} ms",
                flush=True,
            )  # noqa: T201
            if row["delta_added_p99_ms"] > 4 * TARGET_MS:
                break
        results["levels"] = levels
        held = [r["concurrent_turns"] for r in levels if r["delta_added_p99_ms"] < TARGET_MS]
        results["max_turns_p99_under_10ms"] = max(held, default=0)

        before = _rss_kib(server_pid)
        token = pool[0][0]
        sockets = []
        for n in range(0, IDLE_SOCKETS, 100):
            sockets += await asyncio.gather(
                *(_open(ws_url, token) for _ in range(min(100, IDLE_SOCKETS - n)))
            )
        await asyncio.sleep(1)
        after = _rss_kib(server_pid)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        results["idle_websocket_kib"] = (after - before) / IDLE_SOCKETS
    return results


def _table(results: dict[str, Any]) -> str:
    ttfd = results["ttfd_added_ms"]
    rows = [
        ("added time to first delta, p50 @50 turns", f"{ttfd['p50']:.1f} ms", "< 10 ms"),
        ("added time to first delta, p99 @50 turns", f"{ttfd['p99']:.1f} ms", ""),
        (
            "streaming turns with p99 added latency < 10 ms",
            str(results["max_turns_p99_under_10ms"]),
            ">= 500",
        ),
        ("memory per idle WebSocket", f"{results['idle_websocket_kib']:.1f} KiB", "< 50 KiB"),
    ]
    for level in results["levels"]:
        rows.append(
            (
                f"  {level['concurrent_turns']} turns: per-delta p50 / p99",
                f"{level['delta_added_p50_ms']:.1f} / {level['delta_added_p99_ms']:.1f} ms",
                "",
            )
        )
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'value':>16}  target", "-" * (width + 28)]
    lines += [f"{name:<{width}}  {value:>16}  {target}" for name, value, target in rows]
    return "\n".join(lines)


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        server = server_url(directory)
        database = create_database(server)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            upgrade(database)
            provider_port, app_port = free_port(), free_port()
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.paced_openai", str(provider_port)], cwd=root
                )
            )
            env = {
                **os.environ,
                "REACTOR_CONFIG": str(_config(directory, provider_port)),
                "REACTOR_DATABASE__URL": database,
                "REACTOR_AUTH__JWT_SECRET": SECRET,
            }
            app = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.asgi:app_from_environment",
                    "--factory",
                    "--port",
                    str(app_port),
                    "--workers",
                    "1",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    # Per-message deflate costs a zlib context per socket and CPU per frame;
                    # chat deltas are a few bytes, so it buys nothing here.
                    "--ws-per-message-deflate",
                    "false",
                ],
                cwd=root,
                env=env,
            )
            processes.append(app)
            base = f"http://127.0.0.1:{app_port}"
            asyncio.run(_wait_up(base + "/healthz"))
            results = asyncio.run(_measure(base, app.pid))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            drop_database(server, database)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(_table(results))  # noqa: T201
    print(f"written to {RESULTS}")  # noqa: T201


if __name__ == "__main__":
    main()

"""Chat turns end to end on one uvicorn worker, against a fake provider streaming 20 tokens/s
in a process of its own, driven over graphql-transport-ws (one WebSocket per client) from
this process.

Headline figures are of a steady state: at concurrency C, C clients each run turns back to
back (a random pause of up to PAUSE_S between), staggered so they do not start together; after
a warm-up, every turn that starts and ends inside the measuring window counts.

- added time to first delta: (subscribe -> first TextDelta at the client) minus the
  provider's own (request arrival -> first delta sent), p50/p99 at 50 concurrent turns;
- capacity: at rising C, the added latency of every later delta (provider's send stamp ->
  client's receipt, same clock); the figure is the highest C whose p99 stays under 10 ms.
  Measured for 40-token replies (2 s turns, where turn starts weigh most) and again for
  200-token replies (10 s), with the server's CPU per delta at each level;
- worst case, reported apart: 50 turns subscribing at the same instant (a synchronized burst);
- memory per idle WebSocket: the server's RSS growth over 1000 acknowledged idle connections.
The client shares the machine's cores with the server, the provider and PostgreSQL, so the
figures are upper bounds on what the server itself adds.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
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
LEVELS = (25, 50, 100, 200, 300, 400, 500, 600, 800)
TURN_TOKENS = 40  # 2 s of streaming per turn
# A second sweep with replies of a typical length: 10 s each, so a fifth of the turn starts.
LONG_TOKENS = 200
LONG_LEVELS = (100, 200, 300, 400, 500)
LONG_WINDOW_S = 20.0
IDLE_SOCKETS = 1000
TARGET_MS = 10.0
PAUSE_S = 0.1  # the most a client waits between two turns
WARM_UP_S = 5.0
TTFD_WINDOW_S = 24.0
LEVEL_WINDOW_S = 12.0

# uvicorn's options for the server under test, shared with bench/stack_floor_bench.py.
UVICORN_OPTIONS = (
    "--log-level",
    "warning",
    "--no-access-log",
    "--ws-ping-interval",
    "20",
    # Per-message deflate costs a zlib context per socket and CPU per frame; chat deltas are
    # a few bytes, so it buys nothing (`reactor-chat serve` turns it off too).
    "--ws-per-message-deflate",
    "false",
)

CHAT = """subscription($c: UUID!, $m: String!, $model: String) {
  chat(conversationId: $c, message: $m, model: $model) {
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
pool_size = 40
max_overflow = 20
[ai]
default_alias = "paced"
max_retries = 0
[ai.aliases]
paced = ["paced/tps={TOKENS_PER_SECOND},n={TURN_TOKENS}"]
long = ["paced/tps={TOKENS_PER_SECOND},n={LONG_TOKENS}"]
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
    ws: ClientConnection,
    conversation: str,
    operation: str = "1",
    window: tuple[float, float, list[int]] | None = None,
    model: str | None = None,
) -> tuple[float, list[float]]:
    """(added time to first delta in ms, added latency of each later delta in ms); with a
    window (start, end, counter), the deltas received inside it are counted."""
    sent = time.time_ns()
    await ws.send(
        json.dumps(
            {
                "id": operation,
                "type": "subscribe",
                "payload": {
                    "query": CHAT,
                    "variables": {"c": conversation, "m": "hi", "model": model},
                },
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
        if window is not None and window[0] <= time.monotonic() <= window[1]:
            window[2][0] += 1
        stamp = event["text"].strip()
        if first is None:
            arrived, provider_sent = (int(x) for x in stamp.split("/"))
            first = ((received - sent) - (provider_sent - arrived)) / 1e6
        else:
            later.append((received - int(stamp)) / 1e6)
    assert first is not None
    return first, later


async def _open_all(ws_url: str, users: list[tuple[str, str]]) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for n in range(0, len(users), 100):
        sockets += await asyncio.gather(*(_open(ws_url, token) for token, _ in users[n : n + 100]))
    return sockets


async def _burst(ws_url: str, users: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    """Every user's turn subscribed at the same instant: the worst case."""
    sockets = await _open_all(ws_url, users)
    start = asyncio.Event()

    async def one(ws: ClientConnection, conversation: str) -> tuple[float, list[float]]:
        await start.wait()
        return await _turn(ws, conversation)

    try:
        tasks = [
            asyncio.create_task(one(ws, conversation))
            for ws, (_, conversation) in zip(sockets, users, strict=True)
        ]
        await asyncio.sleep(0.2)
        start.set()
        results = await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return [r[0] for r in results], [x for r in results for x in r[1]]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _steady(
    ws_url: str,
    users: list[tuple[str, str]],
    window: float,
    server_pid: int,
    model: str | None = None,
    turn_tokens: int = TURN_TOKENS,
) -> dict[str, Any]:
    """len(users) clients running turns back to back; the turns that start after the warm-up
    and end inside the window, and the server's CPU over the window."""
    sockets = await _open_all(ws_url, users)
    rng = random.Random(len(users))
    began = time.monotonic()
    warm, end = began + WARM_UP_S, began + WARM_UP_S + window
    firsts: list[float] = []
    gaps: list[float] = []
    counted = [0]
    in_window = [0]

    async def client(ws: ClientConnection, conversation: str, offset: float) -> None:
        # Staggered over one turn's length, so the clients do not move in step.
        await asyncio.sleep(offset)
        n = 0
        while time.monotonic() < end:
            started = time.monotonic()
            first, later = await _turn(ws, conversation, str(n), (warm, end, in_window), model)
            n += 1
            if started >= warm and time.monotonic() <= end:
                firsts.append(first)
                gaps.extend(later)
                counted[0] += 1
            await asyncio.sleep(rng.uniform(0, PAUSE_S))

    async def server_cpu() -> tuple[float, float]:
        """(cores, CPU seconds) over the window."""
        await asyncio.sleep(max(0.0, warm - time.monotonic()))
        before, at = cpu_seconds(server_pid), time.monotonic()
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        spent = cpu_seconds(server_pid) - before
        return spent / (time.monotonic() - at), spent

    turn_s = turn_tokens / TOKENS_PER_SECOND
    try:
        cpu = asyncio.create_task(server_cpu())
        await asyncio.gather(
            *(
                client(ws, conversation, rng.uniform(0, turn_s))
                for ws, (_, conversation) in zip(sockets, users, strict=True)
            )
        )
        server_share, server_seconds = await cpu
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "concurrent_turns": len(users),
        "turns": counted[0],
        "deltas": len(gaps),
        "ttfd_added_p50_ms": _percentile(firsts, 50),
        "ttfd_added_p99_ms": _percentile(firsts, 99),
        "delta_added_p50_ms": _percentile(gaps, 50),
        "delta_added_p99_ms": _percentile(gaps, 99),
        "server_cpu_cores": round(server_share, 2),
        # All of the server's work (turn starts and ends too) over the deltas it streamed.
        "server_cpu_us_per_delta": round(server_seconds / max(1, in_window[0]) * 1e6),
    }


async def _sweep(
    ws_url: str,
    pool: list[tuple[str, str]],
    server_pid: int,
    levels: tuple[int, ...],
    window: float,
    label: str,
    model: str | None = None,
    turn_tokens: int = TURN_TOKENS,
) -> list[dict[str, Any]]:
    """Steady states at rising concurrency, until the per-delta p99 is far past the target."""
    rows = []
    for level in levels:
        row = await _steady(ws_url, pool[:level], window, server_pid, model, turn_tokens)
        rows.append(row)
        print(
            f"  steady {level} {label}: p99 added per delta {row['delta_added_p99_ms']:.1f} ms,"
            f" server {row['server_cpu_cores']} cores",
            flush=True,
        )
        if row["delta_added_p99_ms"] > 4 * TARGET_MS:
            break
    return rows


async def _measure(base: str, server_pid: int) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + "/graphql"
    results: dict[str, Any] = {
        "turn": {"tokens": TURN_TOKENS, "tokens_per_second": TOKENS_PER_SECOND},
        "steady_state": {
            "method": (
                f"C clients, one WebSocket each, run turns back to back (pause 0-{PAUSE_S} s),"
                f" staggered; turns starting after a {WARM_UP_S} s warm-up and ending inside"
                " the window count"
            ),
        },
    }
    steady = results["steady_state"]
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        pool = await _users(http, max(LEVELS))
        # Warm-up at full width: the pool grows to its size and every connection prepares
        # the turn's statements once.
        for _ in range(2):
            await _burst(ws_url, pool[:TTFD_TURNS])

        row = await _steady(ws_url, pool[:TTFD_TURNS], TTFD_WINDOW_S, server_pid)
        steady["ttfd"] = row
        print(
            f"  steady {TTFD_TURNS} turns: added TTFD p50 {row['ttfd_added_p50_ms']:.1f} ms",
            flush=True,
        )

        levels = await _sweep(ws_url, pool, server_pid, LEVELS, LEVEL_WINDOW_S, "turns")
        steady["levels"] = levels
        steady["max_turns_p99_under_10ms"] = _held(levels)
        long_levels = await _sweep(
            ws_url, pool, server_pid, LONG_LEVELS, LONG_WINDOW_S, "long turns", "long", LONG_TOKENS
        )
        steady["long_replies"] = {
            "tokens": LONG_TOKENS,
            "levels": long_levels,
            "max_turns_p99_under_10ms": _held(long_levels),
        }

        firsts, gaps = await _burst(ws_url, pool[:TTFD_TURNS])
        results["burst_worst_case"] = {
            "method": f"{TTFD_TURNS} turns subscribing at the same instant, sockets already open",
            "concurrent_turns": TTFD_TURNS,
            "ttfd_added_p50_ms": _percentile(firsts, 50),
            "ttfd_added_p99_ms": _percentile(firsts, 99),
            "delta_added_p50_ms": _percentile(gaps, 50),
            "delta_added_p99_ms": _percentile(gaps, 99),
        }

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


def _held(levels: list[dict[str, Any]]) -> int:
    """The highest concurrency whose per-delta p99 stays under the target."""
    held = [r["concurrent_turns"] for r in levels if r["delta_added_p99_ms"] < TARGET_MS]
    return max(held, default=0)


def _level_row(label: str, level: dict[str, Any]) -> tuple[str, str, str]:
    return (
        f"  steady {level['concurrent_turns']} {label}: per-delta p50 / p99"
        f" ({level['server_cpu_cores']} server cores,"
        f" {level['server_cpu_us_per_delta']} us CPU a delta)",
        f"{level['delta_added_p50_ms']:.1f} / {level['delta_added_p99_ms']:.1f} ms",
        "",
    )


def _table(results: dict[str, Any]) -> str:
    steady = results["steady_state"]
    ttfd = steady["ttfd"]
    burst = results["burst_worst_case"]
    rows = [
        (
            f"steady: added time to first delta, p50 @{TTFD_TURNS} turns",
            f"{ttfd['ttfd_added_p50_ms']:.1f} ms",
            "< 10 ms",
        ),
        (
            f"steady: added time to first delta, p99 @{TTFD_TURNS} turns",
            f"{ttfd['ttfd_added_p99_ms']:.1f} ms",
            "",
        ),
        (
            "steady: streaming turns with p99 added per-delta latency < 10 ms",
            str(steady["max_turns_p99_under_10ms"]),
            ">= 500",
        ),
        ("memory per idle WebSocket", f"{results['idle_websocket_kib']:.1f} KiB", "< 50 KiB"),
    ]
    rows += [_level_row("turns", level) for level in steady["levels"]]
    long = steady["long_replies"]
    rows.append(
        (
            f"steady, {long['tokens']}-token replies: turns with p99 per-delta latency < 10 ms",
            str(long["max_turns_p99_under_10ms"]),
            ">= 500",
        )
    )
    rows += [_level_row("long turns", level) for level in long["levels"]]
    rows += [
        (
            f"worst case, burst of {TTFD_TURNS} at once: added TTFD p50 / p99",
            f"{burst['ttfd_added_p50_ms']:.0f} / {burst['ttfd_added_p99_ms']:.0f} ms",
            "",
        ),
        (
            f"worst case, burst of {TTFD_TURNS} at once: per-delta p50 / p99",
            f"{burst['delta_added_p50_ms']:.1f} / {burst['delta_added_p99_ms']:.1f} ms",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"turns of {TURN_TOKENS} tokens at {TOKENS_PER_SECOND} tokens/s;"
        f" steady state: {steady['method']}",
        f"{'measure':<{width}}  {'value':>16}  target",
        "-" * (width + 28),
    ]
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
                    [sys.executable, "-m", "bench.fake_openai", str(provider_port)], cwd=root
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
                    # As `reactor-chat serve` runs it (app/cli.py).
                    "--ws",
                    "app.graceful_ws:GracefulWebSockets",
                    *UVICORN_OPTIONS,
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
    print(_table(results))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

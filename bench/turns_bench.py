"""Durable turns across processes: two uvicorn processes (A and B) on one database, a paced
fake provider (20 tokens/s) in a process of its own, the client in this one.

- cross-process lag of a rejoined reply: TURNS turns start on A; a client on A follows each
  and another rejoins it on B with `resumeChat`; for every delta, the time it reached B's
  client minus the time it reached A's (the same text position), p50/p99; once with
  PostgreSQL carrying it (LISTEN/NOTIFY, the default) and once with Redis;
- checkpoint writes: the reply updates PostgreSQL counts (`pg_stat_user_tables.n_tup_upd`
  of `messages`) a second while the turns stream, against the turns in flight;
- memory held for a client that never reads: A's RSS growth while READERLESS clients start
  long replies and read nothing, per client (their buffers are bounded by
  `[chat] max_buffered_events`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection

from app.migrations import upgrade
from bench.chat_bench import UVICORN_OPTIONS, _open, _percentile, _rss_kib, _users, _wait_up
from tests.support.database import create_database, drop_database, server_url
from tests.support.graphql import SECRET
from tests.support.server import free_port

RESULTS = Path(__file__).parent / "results" / "turns.json"
TURNS = 20
TOKENS = 60  # 3 s of streaming at 20 tokens/s
READERLESS = 20
LONG_TOKENS = 400

CHAT = """subscription($c: UUID!, $m: String!, $model: String) {
  chat(conversationId: $c, message: $m, model: $model) {
    __typename ... on ChatStarted { replyId } ... on TextDelta { text }
  }
}"""
RESUME = """subscription($r: UUID!) {
  resumeChat(replyId: $r) {
    __typename ... on TextSnapshot { text } ... on TextDelta { text }
  }
}"""


def _config(directory: Path, provider_port: int, broker: str | None) -> Path:
    config = directory / f"Reactor-{'redis' if broker else 'pg'}.toml"
    broker_section = f'[broker]\nurl = "{broker}"\n' if broker else ""
    config.write_text(
        f"""
[server]
data_dir = "{directory}"
log_level = "WARNING"
[database]
pool_size = 20
max_overflow = 20
[ai]
default_alias = "paced"
max_retries = 0
[ai.aliases]
paced = ["paced/tps=20,n={TOKENS}"]
long = ["paced/tps=200,n={LONG_TOKENS}"]
[ai.providers.paced]
base_url = "http://127.0.0.1:{provider_port}/v1"
[chat]
max_messages_per_hour = 1000000000
max_turns_in_flight = 1000
tools = []
{broker_section}""",
        encoding="utf-8",
    )
    return config


@contextmanager
def _servers(config: Path, database: str, root: Path) -> Iterator[tuple[str, str, int]]:
    env = {
        **os.environ,
        "REACTOR_CONFIG": str(config),
        "REACTOR_DATABASE__URL": database,
        "REACTOR_AUTH__JWT_SECRET": SECRET,
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.asgi:app_from_environment",
                "--factory",
                "--port",
                str(port),
                "--ws",
                "app.graceful_ws:GracefulWebSockets",
                *UVICORN_OPTIONS,
            ],
            cwd=root,
            env=env,
        )
        for port in ports
    ]
    try:
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", processes[0].pid
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def _subscribe(ws: ClientConnection, query: str, variables: dict[str, Any]) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def _positions(ws: ClientConnection, key: str) -> dict[int, float]:
    """When each text position (characters so far) reached this client."""
    seen: dict[int, float] = {}
    length = 0
    while True:
        message = json.loads(await ws.recv())
        if message["type"] in ("complete", "error"):
            return seen
        if message["type"] != "next":
            continue
        event = message["payload"]["data"][key]
        if event["__typename"] == "TextSnapshot":
            length = len(event["text"])
        elif event["__typename"] == "TextDelta":
            length += len(event["text"])
            seen[length] = time.monotonic()


async def _lag(a: str, b: str, users: list[tuple[str, str]]) -> list[float]:
    """Per delta, B's client minus A's, in ms."""

    async def one(token: str, conversation: str) -> list[float]:
        on_a = await _open(a.replace("http", "ws") + "/graphql", token)
        on_b = await _open(b.replace("http", "ws") + "/graphql", token)
        try:
            await _subscribe(on_a, CHAT, {"c": conversation, "m": "hi", "model": None})
            while True:
                started = json.loads(await on_a.recv())
                if started["type"] == "next":
                    break
            reply = started["payload"]["data"]["chat"]["replyId"]
            await _subscribe(on_b, RESUME, {"r": reply})
            seen_a, seen_b = await asyncio.gather(
                _positions(on_a, "chat"), _positions(on_b, "resumeChat")
            )
        finally:
            await on_a.close()
            await on_b.close()
        return [(seen_b[p] - seen_a[p]) * 1000 for p in seen_b if p in seen_a]

    lags = await asyncio.gather(*(one(t, c) for t, c in users))
    return [x for per_turn in lags for x in per_turn]


async def _updates(database: str) -> int:
    conn = await asyncpg.connect(database)
    try:
        found = await conn.fetchval(
            "select n_tup_upd from pg_stat_user_tables where relname = 'messages'"
        )
        return int(found)
    finally:
        await conn.close()


async def _checkpoints(a: str, users: list[tuple[str, str]], database: str) -> dict[str, float]:
    """Reply updates a second while len(users) turns of 3 s stream (finals excluded)."""

    async def one(token: str, conversation: str) -> None:
        ws = await _open(a.replace("http", "ws") + "/graphql", token)
        try:
            await _subscribe(ws, CHAT, {"c": conversation, "m": "hi", "model": None})
            await _positions(ws, "chat")
        finally:
            await ws.close()

    before = await _updates(database)
    began = time.monotonic()
    await asyncio.gather(*(one(t, c) for t, c in users))
    seconds = time.monotonic() - began
    # pg_stat is flushed by backends now and then: wait for it to catch up.
    await asyncio.sleep(1.5)
    after = await _updates(database)
    # Each turn's final save is one update too.
    checkpoints = after - before - len(users)
    return {
        "turns_in_flight": len(users),
        "seconds": round(seconds, 2),
        "checkpoint_updates_per_second": round(checkpoints / seconds, 1),
        "per_turn_per_second": round(checkpoints / seconds / len(users), 2),
    }


async def _readerless(a: str, pid: int, users: list[tuple[str, str]]) -> dict[str, float]:
    before = _rss_kib(pid)
    sockets = []
    for token, conversation in users:
        ws = await _open(a.replace("http", "ws") + "/graphql", token)
        await _subscribe(ws, CHAT, {"c": conversation, "m": "hi", "model": "long"})
        sockets.append(ws)
    # The replies stream to their end meanwhile; nothing is read.
    await asyncio.sleep(LONG_TOKENS / 200 + 3)
    after = _rss_kib(pid)
    for ws in sockets:
        await ws.close()
    return {
        "clients": len(users),
        "reply_tokens": LONG_TOKENS,
        "rss_growth_kib_per_client": round((after - before) / len(users), 1),
    }


async def _measure(
    database: str, root: Path, directory: Path, provider_port: int
) -> dict[str, Any]:
    results: dict[str, Any] = {"turns": TURNS, "tokens": TOKENS, "tokens_per_second": 20}
    for name, broker in (("postgres", None), ("redis", "redis://127.0.0.1:6379/0")):
        config = _config(directory, provider_port, broker)
        with _servers(config, database, root) as (a, b, pid):
            await _wait_up(a + "/healthz")
            await _wait_up(b + "/healthz")
            async with httpx.AsyncClient(base_url=a, timeout=60) as http:
                users = await _users(http, TURNS)
                lags = await _lag(a, b, users)
                results[f"lag_{name}"] = {
                    "p50_ms": round(_percentile(lags, 50), 1),
                    "p99_ms": round(_percentile(lags, 99), 1),
                    "deltas": len(lags),
                }
                print(f"  {name}: lag p50 {_percentile(lags, 50):.1f} ms", flush=True)
                if broker is None:
                    many = await _users(http, 100)
                    results["checkpoints"] = await _checkpoints(a, many, database)
                    quiet = await _users(http, READERLESS)
                    results["readerless"] = await _readerless(a, pid, quiet)
    return results


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        server = server_url(directory)
        database = create_database(server)
        provider = None
        try:
            upgrade(database)
            provider_port = free_port()
            provider = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_openai", str(provider_port)], cwd=root
            )
            results = asyncio.run(_measure(database, root, directory, provider_port))
        finally:
            if provider is not None:
                provider.terminate()
                provider.wait(timeout=30)
            drop_database(server, database)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for key, value in results.items():
        print(f"{key:<14} {value}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

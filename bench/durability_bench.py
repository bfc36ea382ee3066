"""What durable turns cost per delta: the server's CPU per text delta for turns nobody else
follows, this tree against the tree before durable turns (`BASELINE`, checked out beside it
with `git worktree`), in the same run on the same machine.

Each tree serves one uvicorn worker on a database migrated by that tree's own migrations;
TURNS turns of TOKENS tokens stream at 20 tokens/s from the paced fake provider; the figure is
the worker's CPU time (user + system, from /proc) over the deltas its clients received.

Then, on this tree alone, what checkpoints cost the database with IN_FLIGHT turns streaming at
once (slower turns, so that one worker holds them all): the transactions the database commits
a second and the reply rows written a second, mid-stream (every turn started, none ended), from
`pg_stat_database` and `pg_stat_user_tables`. With one checkpoint statement an interval per
process, the transactions stay near one a second (plus the heartbeat's), whatever IN_FLIGHT is.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.chat_bench import _open, _users, _wait_up, cpu_seconds
from bench.trees import checkout, serve
from tests.support.database import create_database, drop_database, server_url
from tests.support.server import free_port

RESULTS = Path(__file__).parent / "results" / "durability.json"
BASELINE = "c0eabd9"  # main before durable turns
TURNS = 50
TOKENS = 200
ROUNDS = 2
IN_FLIGHT = 500
IN_FLIGHT_SECONDS = 20.0
IN_FLIGHT_SETTLE_SECONDS = 12.0

CHAT = """subscription($c: UUID!, $m: String!, $model: String) {
  chat(conversationId: $c, message: $m, model: $model) { __typename ... on TextDelta { text } }
}"""


def _config(directory: Path, provider_port: int) -> Path:
    config = directory / "Reactor.toml"
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
slow = ["paced/tps=2,n=160"]
[ai.providers.paced]
base_url = "http://127.0.0.1:{provider_port}/v1"
[chat]
max_messages_per_hour = 1000000000
tools = []
""",
        encoding="utf-8",
    )
    return config


async def _turn(ws_url: str, token: str, conversation: str) -> int:
    ws = await _open(ws_url, token)
    deltas = 0
    try:
        payload = {"query": CHAT, "variables": {"c": conversation, "m": "hi", "model": None}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        while True:
            message = json.loads(await ws.recv())
            if message["type"] in ("complete", "error"):
                return deltas
            if message["type"] == "next":
                deltas += 1
    finally:
        await ws.close()


async def _measure(base: str, pid: int) -> float:
    """CPU µs per delta over ROUNDS rounds of TURNS concurrent turns."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        users = await _users(http, TURNS)
    ws_url = base.replace("http://", "ws://") + "/graphql"
    await asyncio.gather(*(_turn(ws_url, t, c) for t, c in users[:5]))  # warm-up
    before = cpu_seconds(pid)
    deltas = 0
    for _ in range(ROUNDS):
        counts = await asyncio.gather(*(_turn(ws_url, t, c) for t, c in users))
        deltas += sum(counts)
    return (cpu_seconds(pid) - before) / deltas * 1e6


async def _database_counts(database: str) -> tuple[int, int]:
    """(transactions committed, message rows updated) in `database` so far."""
    conn = await asyncpg.connect(database)
    try:
        commits = await conn.fetchval(
            "select xact_commit from pg_stat_database where datname = current_database()"
        )
        updates = await conn.fetchval(
            "select n_tup_upd from pg_stat_user_tables where relname = 'messages'"
        )
        return int(commits), int(updates)
    finally:
        await conn.close()


async def _in_flight(base: str, database: str) -> dict[str, float]:
    """Transactions and reply rows written a second while IN_FLIGHT turns stream."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        users = await _users(http, IN_FLIGHT)
    ws_url = base.replace("http://", "ws://") + "/graphql"
    sockets = [await _open(ws_url, token) for token, _ in users]
    try:
        for index, (ws, (_, conversation)) in enumerate(zip(sockets, users, strict=True)):
            variables = {"c": conversation, "m": "hi", "model": "slow"}
            message = {
                "id": str(index),
                "type": "subscribe",
                "payload": {"query": CHAT, "variables": variables},
            }
            await ws.send(json.dumps(message))
        for ws in sockets:  # every turn streaming
            while json.loads(await ws.recv())["type"] != "next":
                pass
        # An idle backend flushes its statistics within 10 s: let the openings' settle first.
        await asyncio.sleep(IN_FLIGHT_SETTLE_SECONDS)
        commits, updates = await _database_counts(database)
        began = time.monotonic()
        await asyncio.sleep(IN_FLIGHT_SECONDS)
        later_commits, later_updates = await _database_counts(database)
        seconds = time.monotonic() - began
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "turns_in_flight": IN_FLIGHT,
        "seconds": round(seconds, 1),
        "transactions_per_second": round((later_commits - commits) / seconds, 1),
        "reply_rows_written_per_second": round((later_updates - updates) / seconds, 1),
    }


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    results: dict[str, Any] = {"turns": TURNS, "tokens": TOKENS, "rounds": ROUNDS}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with checkout(root, BASELINE, directory / "baseline") as baseline:
            server = server_url(directory)
            provider_port = free_port()
            provider = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_openai", str(provider_port)], cwd=root
            )
            try:
                # The in-flight figures on a server and database of their own: nothing of the
                # CPU rounds is left in the database's statistics.
                for name, tree in (("baseline", baseline), ("durable", root), ("in_flight", root)):
                    database = create_database(server)
                    process, port = serve(tree, _config(directory, provider_port), database)
                    try:
                        base = f"http://127.0.0.1:{port}"
                        asyncio.run(_wait_up(base + "/healthz"))
                        if name == "in_flight":
                            results[name] = asyncio.run(_in_flight(base, database))
                            print(f"  {name}: {results[name]}", flush=True)
                        else:
                            cpu = round(asyncio.run(_measure(base, process.pid)), 1)
                            results[f"{name}_cpu_us_per_delta"] = cpu
                            print(f"  {name}: {cpu} us/delta", flush=True)
                    finally:
                        process.terminate()
                        process.wait(timeout=30)
                        drop_database(server, database)
                        time.sleep(1)
            finally:
                # Streams cut by the server's shutdown may hold a graceful exit: no grace here.
                provider.kill()
                provider.wait(timeout=30)
    results["ratio"] = round(
        results["durable_cpu_us_per_delta"] / results["baseline_cpu_us_per_delta"], 3
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for key, value in results.items():
        print(f"{key:<26} {value}")
    print(f"target: durable at most 1.10x the baseline -> {RESULTS}")


if __name__ == "__main__":
    main()

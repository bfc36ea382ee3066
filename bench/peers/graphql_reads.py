"""GraphQL reads against PostGraphile v4, on the same database, data and row-level security.

Both servers run one process on one database that `bench.peers.dataset` filled (50 users x
100 conversations x 20 messages); each request runs as `authenticated` with its caller's
claims in `request.jwt.claims`, set for its transaction only (ours in db/session.py, theirs in
postgraphile/server.js). One user's token; the same load generator (bench/peers/load.py,
16 connections) drives each query against us, then against them:

- nested: 20 conversations with their last 5 messages each
- flat: 20 conversations
- trivial: an authenticated query that reads no table of ours (`{ me { id } }` reads the
  user's row; PostGraphile's nearest is the `request_user_id()` function), and our /healthz
  beside it for the transport's own cost.

Before the load, the two answers are compared: the same conversations and messages, in the
same order. Without Node or the installed package PostGraphile is skipped and said so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.chat_bench import _wait_up
from bench.peers import dataset, load
from tests.support.database import create_database, drop_database, server_url
from tests.support.graphql import SECRET, mint_token
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
POSTGRAPHILE = Path(__file__).resolve().parent / "postgraphile"
SECONDS = float(os.environ.get("BENCH_PEERS_SECONDS", "10"))
WARM_UP_SECONDS = 3.0

_MESSAGES = "edges { node { id role content } }"
OURS = {
    "nested": f"{{ conversations(first: 20) {{ edges {{ node {{ id title messages(last: 5) {{ "
    f"{_MESSAGES} }} }} }} }} }}",
    "flat": "{ conversations(first: 20) { edges { node { id title } } } }",
    "trivial": "{ me { id } }",
}
_PAGE = (
    "allConversations(first: 20, orderBy: [UPDATED_AT_DESC, ID_DESC], condition: {archived: false})"
)
THEIRS = {
    "nested": f"{{ {_PAGE} {{ edges {{ node {{ id title messagesByConversationId(last: 5, "
    f"orderBy: [SEQ_ASC]) {{ {_MESSAGES} }} }} }} }} }}",
    "flat": f"{{ {_PAGE} {{ edges {{ node {{ id title }} }} }} }}",
    "trivial": "{ requestUserId }",
}


def _config(directory: Path) -> Path:
    config = directory / "Reactor.toml"
    config.write_text(
        f'[server]\nenvironment = "production"\ndata_dir = "{directory}"\nlog_level = "WARNING"\n',
        encoding="utf-8",
    )
    return config


def _serve_ours(directory: Path, database: str) -> tuple[subprocess.Popen[bytes], int]:
    """As `reactor-chat serve` runs it: one uvicorn worker, its HTTP protocol and options."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REACTOR_CONFIG": str(_config(directory)),
        "REACTOR_DATABASE__URL": database,
        "REACTOR_AUTH__JWT_SECRET": SECRET,
    }
    port = free_port()
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve"]
    return subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env=env), port


def postgraphile_missing() -> str | None:
    """Why PostGraphile cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (POSTGRAPHILE / "node_modules" / "postgraphile").is_dir():
        return "bench/peers/postgraphile/node_modules is missing (run `make bench-peers`)"
    return None


def _serve_theirs(database: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = ["node", "server.js", database, str(port), SECRET]
    return subprocess.Popen(command, cwd=POSTGRAPHILE), port


def _ask(url: str, query: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(url, json={"query": query}, headers=headers, timeout=30)
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
    return body


def _read_back(body: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(conversation id, title, [(message id, content)]) in order, from either schema."""
    page = body["data"].get("conversations") or body["data"]["allConversations"]
    found = []
    for edge in page["edges"]:
        node = edge["node"]
        connection = node.get("messages") or node.get("messagesByConversationId") or {}
        found.append(
            (
                node["id"],
                node["title"],
                [(m["node"]["id"], m["node"]["content"]) for m in connection.get("edges", [])],
            )
        )
    return found


def _same_answers(ours: str, theirs: str, token: str) -> None:
    for name in ("nested", "flat"):
        mine = _read_back(_ask(ours, OURS[name], token))
        peer = _read_back(_ask(theirs, THEIRS[name], token))
        if mine != peer or len(mine) != 20:
            raise RuntimeError(f"{name}: the two servers read different rows")


def _measure(
    url: str, query: str | None, token: str, pid: int, connections: int = load.CONNECTIONS
) -> dict[str, float | int | None]:
    """`query` posted under load; None: a GET of `url`."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = None if query is None else json.dumps({"query": query})
    load.run(url, body, headers, WARM_UP_SECONDS, pid, connections)
    figures = load.run(url, body, headers, SECONDS, pid, connections)
    if figures.errors:
        raise RuntimeError(f"{url}: {figures.errors} failed requests under load")
    print(f"    {figures.as_dict()}", flush=True)
    return figures.as_dict()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def main() -> dict[str, Any]:
    token = mint_token(dataset.user_id(1), ttl=3600)
    results: dict[str, Any] = {
        "data": f"{dataset.USERS} users x {dataset.CONVERSATIONS} conversations x "
        f"{dataset.MESSAGES} messages",
        "load": f"{load.tool()}, {load.CONNECTIONS} connections, {SECONDS:g} s per figure",
    }
    missing = postgraphile_missing()
    if missing:
        results["skipped"] = f"PostGraphile: {missing}"
        print(f"  PostGraphile not measured: {missing}; our figures alone", flush=True)
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = server_url(Path(tmp))
        database = create_database(server)
        try:
            ours, port = _serve_ours(Path(tmp), database)  # migrates before it serves
            servers.append(ours)
            base = f"http://127.0.0.1:{port}"
            asyncio.run(_wait_up(base + "/healthz"))
            dataset.load(database)
            endpoints = {"ours": (f"{base}/graphql", OURS, ours.pid)}
            if not missing:
                theirs, their_port = _serve_theirs(database)
                servers.append(theirs)
                their_url = f"http://127.0.0.1:{their_port}/graphql"
                asyncio.run(_wait_up(their_url))
                _same_answers(f"{base}/graphql", their_url, token)
                endpoints["postgraphile"] = (their_url, THEIRS, theirs.pid)
            for name in ("nested", "flat", "trivial"):
                for side, (url, queries, pid) in endpoints.items():
                    print(f"  {name} {side}", flush=True)
                    results.setdefault(side, {})[name] = _measure(url, queries[name], token, pid)
            # The transport's own cost, and the trivial query's above it one request at a
            # time, where the latency is the service time rather than the queue's.
            for connections, suffix in ((load.CONNECTIONS, ""), (1, "_1")):
                print(f"  healthz{suffix} ours", flush=True)
                healthz = _measure(f"{base}/healthz", None, token, ours.pid, connections)
                results["ours"]["healthz" + suffix] = healthz
            print("  trivial_1 ours", flush=True)
            results["ours"]["trivial_1"] = _measure(
                f"{base}/graphql", OURS["trivial"], token, ours.pid, 1
            )
        finally:
            for process in servers:
                _stop(process)
            drop_database(server, database)
    if not missing:
        results["ratios"] = {
            name: round(
                results["ours"][name]["requests_per_s"]
                / results["postgraphile"][name]["requests_per_s"],
                2,
            )
            for name in ("nested", "flat", "trivial")
        }
    mine = results["ours"]
    results["trivial_over_healthz_p50_ms"] = round(
        mine["trivial_1"]["p50_ms"] - mine["healthz_1"]["p50_ms"], 2
    )
    return results

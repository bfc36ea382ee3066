"""With several workers /metrics adds every worker's samples up, whichever worker answers,
and forgets the live gauges of workers that are gone."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.ops.metrics_text import value
from tests.ops.serving import serve
from tests.support.graphql import gql

# A worker's share: three operations, one WebSocket still open when it exits or dies.
WORKER = """
import os, sys
from app.connections import WEBSOCKET_CONNECTIONS
from schema.metrics import GRAPHQL_REQUESTS
for _ in range(3):
    GRAPHQL_REQUESTS.labels("MpProbe", "query").inc()
WEBSOCKET_CONNECTIONS.inc()
if sys.argv[1] == "clean":
    from app.endpoints.metrics import mark_this_worker_dead
    mark_this_worker_dead()
os._exit(0)
"""
SCRAPE = """
import sys
from app.endpoints.metrics import exposition
sys.stdout.write(exposition().decode())
"""


def _python(code: str, directory: Path, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_scrape_adds_up_every_workers_samples(tmp_path: Path) -> None:
    _python(WORKER, tmp_path, "clean")
    _python(WORKER, tmp_path, "clean")
    text = _python(SCRAPE, tmp_path)
    assert value(text, "reactor_graphql_requests_total", operation="MpProbe", type="query") == 6


def test_live_gauges_of_dead_workers_are_dropped(tmp_path: Path) -> None:
    _python(WORKER, tmp_path, "clean")
    _python(WORKER, tmp_path, "crash")  # exits without marking itself dead
    text = _python(SCRAPE, tmp_path)
    assert value(text, "reactor_websocket_connections") == 0
    assert value(text, "reactor_graphql_requests_total", operation="MpProbe", type="query") == 6


def _worker_pids(lines: list[str], operation: str) -> set[int]:
    entries = [json.loads(line) for line in lines if operation in line]
    return {e["pid"] for e in entries if e.get("operation") == operation}


async def test_served_with_two_workers_every_scrape_sees_all_requests(
    tmp_path: Path, database_url: str
) -> None:
    sent = 0
    async with serve(tmp_path, database_url, "--workers", "2") as served:
        # Until both workers have served some (the kernel decides who accepts), bounded.
        while len(_worker_pids(served.lines, "MwProbe")) < 2 and sent < 400:
            for _ in range(10):
                async with httpx.AsyncClient(base_url=served.url) as http:
                    body = await gql(http, "query MwProbe { models { name } }")
                    assert "errors" not in body
                sent += 1
            await asyncio.sleep(0.2)  # the log lines on their way through the pipe
        assert len(_worker_pids(served.lines, "MwProbe")) == 2
        for _ in range(6):
            async with httpx.AsyncClient(base_url=served.url) as http:
                text = (await http.get("/metrics")).text
            seen = value(text, "reactor_graphql_requests_total", operation="MwProbe", type="query")
            assert seen == sent

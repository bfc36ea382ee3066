"""The conversations page with their newest messages, walked along branches (the message tree)
against the tree before it (`BASELINE`, a linear list), in the same run on the same machine.

Each tree serves one uvicorn worker on a database its own migrations made; one user's
CONVERSATIONS conversations get TURNS turns each through `sendMessage`; the page asks for 20
conversations with their last 5 messages, REQUESTS times, one at a time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.chat_bench import _percentile, _wait_up
from bench.trees import checkout, serve
from tests.support.database import create_database, drop_database, server_url
from tests.support.graphql import mint_token
from tests.support.server import free_port

RESULTS = Path(__file__).parent / "results" / "page.json"
BASELINE = "fd34ae8"  # main before the message tree
CONVERSATIONS = 20
TURNS = 10
REQUESTS = 300

PAGE = """{ conversations(first: 20) { edges { node { id title
  messages(last: 5) { edges { node { id role content } } } } } } }"""
SEND = 'mutation($c: UUID!) { sendMessage(conversationId: $c, message: "hello there") { id } }'


def _config(directory: Path, provider_port: int) -> Path:
    config = directory / "Reactor.toml"
    config.write_text(
        f"""
[server]
data_dir = "{directory}"
log_level = "WARNING"
[ai]
default_alias = "paced"
max_retries = 0
[ai.aliases]
paced = ["paced/tps=1000,n=5"]
[ai.providers.paced]
base_url = "http://127.0.0.1:{provider_port}/v1"
[chat]
max_messages_per_hour = 1000000000
tools = []
""",
        encoding="utf-8",
    )
    return config


async def _measure(base: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {mint_token(uuid.uuid4(), ttl=3600)}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as http:
        for _ in range(CONVERSATIONS):
            created = await http.post(
                "/graphql", json={"query": "mutation { createConversation { id } }"}
            )
            conversation = created.json()["data"]["createConversation"]["id"]
            for _ in range(TURNS):
                sent = await http.post(
                    "/graphql", json={"query": SEND, "variables": {"c": conversation}}
                )
                if "errors" in sent.json():
                    raise RuntimeError(sent.text)
        times = []
        for n in range(REQUESTS + 20):
            began = time.perf_counter()
            response = await http.post("/graphql", json={"query": PAGE})
            elapsed = (time.perf_counter() - began) * 1000
            if "errors" in response.json():
                raise RuntimeError(response.text)
            if n >= 20:  # warm-up
                times.append(elapsed)
    return {"p50_ms": round(_percentile(times, 50), 2), "p99_ms": round(_percentile(times, 99), 2)}


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    results: dict[str, Any] = {
        "conversations": CONVERSATIONS,
        "turns_each": TURNS,
        "requests": REQUESTS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with checkout(root, BASELINE, directory / "baseline") as baseline:
            server = server_url(directory)
            provider_port = free_port()
            provider = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_openai", str(provider_port)], cwd=root
            )
            try:
                for name, tree in (("linear", baseline), ("tree", root)):
                    database = create_database(server)
                    process, port = serve(tree, _config(directory, provider_port), database)
                    try:
                        base = f"http://127.0.0.1:{port}"
                        asyncio.run(_wait_up(base + "/healthz"))
                        results[name] = asyncio.run(_measure(base))
                        print(f"  {name}: {results[name]}", flush=True)
                    finally:
                        process.terminate()
                        process.wait(timeout=30)
                        drop_database(server, database)
            finally:
                provider.terminate()
                provider.wait(timeout=30)
    results["ratio_p50"] = round(results["tree"]["p50_ms"] / results["linear"]["p50_ms"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for key, value in results.items():
        print(f"{key:<14} {value}")
    print(f"target: the tree's page as fast as the linear one, within noise -> {RESULTS}")


if __name__ == "__main__":
    main()

"""`/ai/v1/chat/completions` beside LiteLLM's proxy, both in front of the same fake upstream
(bench/fake_openai.py, its own process), in one run.

- LiteLLM is installed from `bench/peers/litellm/requirements.txt` (pinned) into a virtual
  environment of its own under the ignored `bench/.peers/`, and served as
  `litellm --num_workers 1`. Where it cannot be installed or started the run says so and
  reports our figures alone.
- Both servers get the same requests from the same load generator: wrk (C, its own process)
  for the non-streaming figures, so the client's cost is not the measure; the streaming
  figure is the server's own CPU (from /proc) over the chunks its clients received.
- Our server runs as `reactor-chat serve` runs it (one uvicorn worker), with the hourly limit
  and the cap on turns in flight on, set high enough that a run is not refused. Requests take
  turns among KEYS users, so no user's hour holds more entries than a production limit would
  let it (the limit's check reads the user's entries of the hour). LiteLLM runs without a
  database, as its quick start does.

Figures: added p50 at one client (p50 through the server minus p50 of the same request sent
straight upstream), requests/s at 32 clients, and CPU per streamed chunk at 50 streams of
20 tokens/s. Run as `python -m bench.peers.litellm_gateway`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.migrations import upgrade
from tests.support.database import create_database, drop_database, server_url
from tests.support.graphql import SECRET, mint_token
from tests.support.server import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "litellm" / "requirements.txt"
VENV = HERE.parent / ".peers" / "litellm-venv"
RESULTS = HERE.parent / "results" / "peers_litellm.json"

SECONDS = float(os.environ.get("BENCH_PEERS_SECONDS", "10"))
CLIENTS = 32
STREAMS = 50
KEYS = 64
TOKENS_PER_SECOND = 20
STREAM_TOKENS = 40
STREAM_WARM_UP_S = 3.0
NON_STREAMING_MODEL = "n=5"
STREAMING_MODEL = f"tps={TOKENS_PER_SECOND},n={STREAM_TOKENS}"

_UVICORN = ("--log-level", "warning", "--no-access-log", "--ws-per-message-deflate", "false")


@dataclass(frozen=True, slots=True)
class Target:
    """A server under test: where to send a request, under which model name, with which keys
    (one per client: our server counts limits per user)."""

    name: str
    url: str
    model: str
    stream_model: str
    keys: tuple[str, ...]
    pid: int | None = None


# ---------------------------------------------------------------- LiteLLM's environment


def install_litellm() -> Path | None:
    """The `litellm` command of the pinned venv, installed on first use; None, said why, when
    it cannot be."""
    litellm = VENV / "bin" / "litellm"
    pinned = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{pinned}"
    if stamp.exists() and litellm.exists():
        return litellm
    print(f"installing LiteLLM ({REQUIREMENTS.read_text().strip()}) into {VENV} ...", flush=True)
    try:
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
            + ["-r", str(REQUIREMENTS)],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"LiteLLM could not be installed ({exc}); reporting our figures alone")
        return None
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return litellm


def _litellm_config(directory: Path, upstream: str) -> Path:
    config = directory / "litellm.yaml"
    models = []
    for name, model in (("fast", NON_STREAMING_MODEL), ("paced", STREAMING_MODEL)):
        params = {"model": f"openai/{model}", "api_base": upstream + "/v1", "api_key": "x"}
        models.append({"model_name": name, "litellm_params": params})
    # JSON is YAML; no YAML writer needed on our side.
    config.write_text(json.dumps({"model_list": models}), encoding="utf-8")
    return config


def _start_litellm(
    litellm: Path, directory: Path, upstream: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        # The bundled cost map, not a download at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("DATABASE_URL", None)
    # Access logs off, as they are for ours: a line per request is not what is compared.
    log_config = directory / "litellm-logging.json"
    log_config.write_text(json.dumps(_QUIET_LOGGING), encoding="utf-8")
    command = [
        str(litellm),
        *("--config", str(_litellm_config(directory, upstream))),
        *("--log_config", str(log_config)),
        *("--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"),
        *("--telemetry", "False"),
    ]
    # Its banner and start-up chatter go to a file; the run prints where if it fails.
    log = (directory / "litellm.log").open("wb")
    return subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=log), port


_QUIET_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {"uvicorn.access": {"level": "WARNING"}},
}


# ---------------------------------------------------------------------- our server


def _our_config(directory: Path, upstream: str) -> Path:
    config = directory / "Reactor.toml"
    config.write_text(
        f"""
[server]
data_dir = "{directory}"
log_level = "WARNING"
[database]
pool_size = 40
max_overflow = 20
[ai]
default_alias = "fast"
max_retries = 0
[ai.aliases]
fast = ["bench/{NON_STREAMING_MODEL}"]
paced = ["bench/{STREAMING_MODEL}"]
[ai.providers.bench]
base_url = "{upstream}/v1"
[chat]
# On, and high enough that a run is never refused: every request is counted and checked.
max_messages_per_hour = 1000000
max_turns_in_flight = 16
tools = []
""",
        encoding="utf-8",
    )
    return config


def _start_ours(
    directory: Path, upstream: str, database: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "REACTOR_CONFIG": str(_our_config(directory, upstream)),
        "REACTOR_DATABASE__URL": database,
        "REACTOR_AUTH__JWT_SECRET": SECRET,
    }
    command = [
        *(sys.executable, "-m", "uvicorn", "app.asgi:app_from_environment", "--factory"),
        *("--port", str(port), "--workers", "1", *_UVICORN),
    ]
    profile = os.environ.get("BENCH_PEERS_PROFILE")
    if profile:
        command = [sys.executable, "-m", "cProfile", "-o", profile, *command[2:]]
    return subprocess.Popen(command, cwd=ROOT, env=env), port


# ---------------------------------------------------------------------- measuring


def _wait_up(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children that were waited for."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU of `pid` and its live descendants (LiteLLM may run its server in a child)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending += [int(c) for c in children]
    return total


_WRK_SCRIPT = """
local keys = {%(keys)s}
local body = '%(body)s'
local n = 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = "Bearer " .. keys[(n %% #keys) + 1]}
  return wrk.format("POST", nil, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,'
      .. '"errors":%%d,"non_2xx":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def wrk(
    url: str, model: str, keys: tuple[str, ...], clients: int, seconds: float
) -> dict[str, Any]:
    """Non-streaming completions for `seconds` from `clients` connections, each request
    with the next key in turn."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    script = _WRK_SCRIPT % {"keys": ", ".join(f'"{k}"' for k in keys), "body": body}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        threads = str(min(2, clients))
        output = subprocess.run(
            [
                "wrk",
                "-t",
                threads,
                "-c",
                str(clients),
                "-d",
                f"{round(seconds)}s",
                "-s",
                file.name,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(file.name)
    match = re.search(r"^WRK (.*)$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    figures = json.loads(match.group(1))
    return {
        "clients": clients,
        "requests": figures["requests"],
        "requests_per_s": round(figures["requests"] / (figures["duration_us"] / 1e6), 1),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": figures["errors"] + figures["non_2xx"],
    }


async def _streams(target: Target, upstream_pid: int) -> dict[str, Any]:
    """STREAMS clients streaming back to back; the server's and the upstream's CPU over the
    chunks received in the window."""
    body = {"model": target.stream_model, "messages": [{"role": "user", "content": "hi"}]}
    body |= {"stream": True}
    limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=STREAMS + 10)
    chunks = [0]
    measuring = [False]
    errors = [0]
    end = time.monotonic() + STREAM_WARM_UP_S + SECONDS

    async def client(http: httpx.AsyncClient, key: str, offset: float) -> None:
        await asyncio.sleep(offset)
        headers = {"Authorization": f"Bearer {key}"}
        while time.monotonic() < end:
            async with http.stream("POST", target.url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    errors[0] += 1
                    await response.aread()
                    await asyncio.sleep(0.1)
                    continue
                async for line in response.aiter_lines():
                    if measuring[0] and line.startswith("data: {") and '"content":"' in line:
                        chunks[0] += 1

    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        turn = STREAM_TOKENS / TOKENS_PER_SECOND
        keys = [target.keys[n % len(target.keys)] for n in range(STREAMS)]
        tasks = [
            asyncio.create_task(client(http, key, turn * n / STREAMS)) for n, key in enumerate(keys)
        ]
        await asyncio.sleep(STREAM_WARM_UP_S)
        assert target.pid is not None
        server, upstream = _tree_cpu(target.pid), cpu_seconds(upstream_pid)
        measuring[0] = True
        await asyncio.sleep(SECONDS)
        measuring[0] = False
        server = _tree_cpu(target.pid) - server
        upstream = cpu_seconds(upstream_pid) - upstream
        await asyncio.gather(*tasks)
    return {
        "streams": STREAMS,
        "chunks": chunks[0],
        "errors": errors[0],
        "server_cpu_us_per_chunk": round(server / max(1, chunks[0]) * 1e6),
        "upstream_cpu_us_per_chunk": round(upstream / max(1, chunks[0]) * 1e6),
    }


def _measure(target: Target, upstream_pid: int) -> dict[str, Any]:
    print(f"  {target.name}: non-streaming, 1 client", flush=True)
    wrk(target.url, target.model, target.keys, CLIENTS, 2)  # warm-up: pools, caches
    one = wrk(target.url, target.model, target.keys, 1, SECONDS)
    print(f"  {target.name}: non-streaming, {CLIENTS} clients", flush=True)
    cpu = None if target.pid is None else _tree_cpu(target.pid)
    many = wrk(target.url, target.model, target.keys, CLIENTS, SECONDS)
    if cpu is not None and target.pid is not None:
        spent = _tree_cpu(target.pid) - cpu
        many["server_cpu_us_per_request"] = round(spent / max(1, many["requests"]) * 1e6)
    figures: dict[str, Any] = {"one_client": one, f"{CLIENTS}_clients": many}
    if target.stream_model:
        print(f"  {target.name}: {STREAMS} streams at {TOKENS_PER_SECOND} tokens/s", flush=True)
        figures["streaming"] = asyncio.run(_streams(target, upstream_pid))
    return figures


# ---------------------------------------------------------------------- the run


def _added(results: dict[str, Any], name: str) -> float:
    figures: float = (
        results[name]["one_client"]["p50_ms"] - results["direct"]["one_client"]["p50_ms"]
    )
    return round(figures, 3)


def _ratios(results: dict[str, Any]) -> dict[str, float]:
    """Theirs against ours, each the way round where higher is better for us (the peers'
    convention): the goals are added_p50 >= 5 (ours at most 0.2 of theirs) and
    requests_per_s_32_clients >= 4."""
    if "litellm" not in results:
        return {}
    ours, theirs = results["reactor"], results["litellm"]
    key = f"{CLIENTS}_clients"
    return {
        "added_p50": round(_added(results, "litellm") / max(1e-9, _added(results, "reactor")), 2),
        f"requests_per_s_{key}": round(
            ours[key]["requests_per_s"] / max(1e-9, theirs[key]["requests_per_s"]), 2
        ),
        "cpu_per_streamed_chunk": round(
            theirs["streaming"]["server_cpu_us_per_chunk"]
            / max(1, ours["streaming"]["server_cpu_us_per_chunk"]),
            2,
        ),
    }


def _table(results: dict[str, Any]) -> str:
    key = f"{CLIENTS}_clients"
    rows = [("", "p50 @1 (ms)", "added p50 (ms)", f"req/s @{CLIENTS}", "CPU/chunk (us)")]
    direct = results["direct"]["one_client"]["p50_ms"]
    for name in ("direct", "reactor", "litellm"):
        figures = results.get(name)
        if figures is None:
            continue
        streaming = figures.get("streaming")
        rows.append(
            (
                name,
                f"{figures['one_client']['p50_ms']:.2f}",
                "" if name == "direct" else f"{figures['one_client']['p50_ms'] - direct:.2f}",
                f"{figures[key]['requests_per_s']:.0f}",
                "" if streaming is None else str(streaming["server_cpu_us_per_chunk"]),
            )
        )
    lines = ["  ".join(f"{cell:>15}" for cell in row) for row in rows]
    ratios = results["ratios"]
    if ratios:
        key = f"requests_per_s_{CLIENTS}_clients"
        lines.append(
            f"LiteLLM's added p50 is {ratios['added_p50']}x ours (goal >= 5),"
            f" our requests/s {ratios[key]}x its (goal >= 4),"
            f" its CPU per chunk {ratios['cpu_per_streamed_chunk']}x ours"
        )
    else:
        lines.append(f"LiteLLM not measured ({results.get('skipped')}): our figures alone")
    upstream = results["reactor"]["streaming"]["upstream_cpu_us_per_chunk"]
    lines.append(f"the fake upstream's own CPU per chunk: {upstream} us (goal for ours: <= 150)")
    return "\n".join(lines)


def main() -> dict[str, Any]:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk); the gateway comparison is skipped")
        return {}
    # BENCH_PEERS_ONLY_OURS=1 while working on ours: the peer's figures move little. The
    # make target installs LiteLLM; run alone, the module installs it on first use.
    litellm = None if os.environ.get("BENCH_PEERS_ONLY_OURS") else install_litellm()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        server = server_url(directory)
        database = create_database(server)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            upgrade(database)
            upstream_port = free_port()
            upstream = f"http://127.0.0.1:{upstream_port}"
            fake = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_openai", str(upstream_port)], cwd=ROOT
            )
            processes.append(fake)
            ours, our_port = _start_ours(directory, upstream, database)
            processes.append(ours)
            theirs = None
            if litellm is not None:
                theirs, their_port = _start_litellm(litellm, directory, upstream)
                processes.append(theirs)
            _wait_up(f"http://127.0.0.1:{our_port}/healthz")
            keys = tuple(mint_token(uuid.uuid4(), ttl=3600) for _ in range(KEYS))
            targets = [
                Target(
                    "direct", upstream + "/v1/chat/completions", NON_STREAMING_MODEL, "", ("x",)
                ),
                Target(
                    "reactor",
                    f"http://127.0.0.1:{our_port}/ai/v1/chat/completions",
                    "fast",
                    "paced",
                    keys,
                    ours.pid,
                ),
            ]
            if theirs is not None:
                try:
                    _wait_up(f"http://127.0.0.1:{their_port}/health/liveliness")
                    targets.append(
                        Target(
                            "litellm",
                            f"http://127.0.0.1:{their_port}/v1/chat/completions",
                            "fast",
                            "paced",
                            ("sk-none",),
                            theirs.pid,
                        )
                    )
                except RuntimeError as exc:
                    print(
                        f"LiteLLM did not start ({exc}; see {directory / 'litellm.log'});"
                        " reporting our figures alone"
                    )
            for target in targets:
                results[target.name] = _measure(target, fake.pid)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            drop_database(server, database)
    results["ratios"] = _ratios(results)
    results["added_p50_ms"] = {
        n: _added(results, n) for n in ("reactor", "litellm") if n in results
    }
    if "litellm" not in results:
        results["skipped"] = "LiteLLM could not be installed or started (see above)"
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(_table(results))
    print(f"written to {RESULTS}")
    return results


if __name__ == "__main__":
    main()

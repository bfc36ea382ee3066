"""The load both servers get: wrk when it is installed (`make bench-peers` installs it), else
a Python load generator in a process of its own. Either way both sides of a comparison are
measured with the same one, CONNECTIONS connections posting the same body back to back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

CONNECTIONS = 16


@dataclass(frozen=True)
class Figures:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    # CPU seconds the server process spent per request (user + system), in milliseconds.
    server_cpu_ms: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    url: str,
    body: str | None,
    headers: dict[str, str],
    seconds: float,
    server_pid: int,
    connections: int = CONNECTIONS,
) -> Figures:
    """POSTs `body` (None: GETs) to `url` for `seconds` from `connections` connections."""
    began = cpu_seconds(server_pid)
    generate = _wrk if tool() == "wrk" else _python
    figures = generate(url, body, headers, seconds, connections)
    cpu = cpu_seconds(server_pid) - began
    per_request = cpu / figures.requests * 1000 if figures.requests else None
    return Figures(**{**asdict(figures), "server_cpu_ms": per_request and round(per_request, 3)})


def _wrk(
    url: str, body: str | None, headers: dict[str, str], seconds: float, connections: int
) -> Figures:
    lines = [] if body is None else ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    # Spaced: `[[` would open a long string in Lua.
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [
                *("wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"),
                *("-s", script.name, url),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    return _parse_wrk(out)


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _parse_wrk(out: str) -> Figures:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if found is None:
            raise RuntimeError(f"no {percent}% latency in wrk's output:\n{out}")
        return round(float(found[1]) * _UNITS[found[2]], 2)

    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if total is None or rate is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    return Figures(
        requests_per_s=round(float(rate[1]), 1),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(total[1]),
        errors=errors,
    )


def _python(
    url: str, body: str | None, headers: dict[str, str], seconds: float, connections: int
) -> Figures:
    spec = {"url": url, "body": body, "headers": headers, "seconds": seconds}
    spec["connections"] = connections
    out = subprocess.run(
        [sys.executable, "-m", "bench.peers.load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Figures(**json.loads(out))


async def _drive(
    url: str, body: str | None, headers: dict[str, str], seconds: float, connections: int
) -> Figures:
    """The fallback generator's own process: `connections` clients of one connection each."""
    times: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=60) as http:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                if body is None:
                    response = await http.get(url)
                else:
                    response = await http.post(url, content=body)
                times.append((time.perf_counter() - began) * 1000)
                errors += response.status_code >= 400

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    times.sort()

    def percentile(q: float) -> float:
        return round(times[min(len(times) - 1, round(q / 100 * (len(times) - 1)))], 2)

    return Figures(
        requests_per_s=round(len(times) / elapsed, 1),
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        requests=len(times),
        errors=errors,
    )


if __name__ == "__main__":
    spec = json.loads(sys.stdin.read())
    figures = asyncio.run(
        _drive(spec["url"], spec["body"], spec["headers"], spec["seconds"], spec["connections"])
    )
    print(json.dumps(figures.as_dict()))

"""`reactor-chat serve` as a real subprocess on a free loopback port, for what only a whole
process shows: its log output, its workers, its reaction to SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.graphql import SECRET
from tests.support.server import free_port

# The checkout under test, ahead of wherever the package is installed from (an editable
# install may point at another working tree).
CHECKOUT = Path(__file__).resolve().parents[2]


def checkout_path(environ: dict[str, str]) -> str:
    return os.pathsep.join([str(CHECKOUT), *filter(None, [environ.get("PYTHONPATH")])])


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    # stderr: the log
    lines: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def terminate(self, within: float = 60) -> int:
        """SIGTERM, then the exit code (the process is killed if it outlives `within` seconds)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise


async def _collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode("utf-8", "replace").rstrip("\n"))


@contextlib.asynccontextmanager
async def serve(tmp_path: Path, database_url: str, *args: str, **env: str) -> AsyncIterator[Served]:
    port = free_port()
    environ = {
        **os.environ,
        "REACTOR_DATABASE__URL": database_url,
        "REACTOR_AUTH__JWT_SECRET": SECRET,
        "REACTOR_SERVER__DATA_DIR": str(tmp_path / "data"),
        **{f"REACTOR_{k.upper()}": v for k, v in env.items()},
    }
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environ["PYTHONPATH"] = checkout_path(environ)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        *args,
        cwd=tmp_path,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    served = Served(process, f"http://127.0.0.1:{port}")
    readers = [
        asyncio.create_task(_collect(process.stderr, served.lines)),
        asyncio.create_task(_collect(process.stdout, served.stdout)),
    ]
    try:
        await _until_healthy(served)
        yield served
    finally:
        if process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await served.terminate()
        await asyncio.wait_for(asyncio.gather(*readers), 30)


async def _until_healthy(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=2) as http:
        for _ in range(600):
            if served.process.returncode is not None:
                raise RuntimeError("server exited:\n" + "\n".join(served.lines))
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become healthy:\n" + "\n".join(served.lines))

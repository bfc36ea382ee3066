"""/metrics: Prometheus text format; with `[server] metrics_token` set, only for a request
bearing it (`Authorization: Bearer <token>`), 401 otherwise.

With several workers (`reactor-chat serve --workers N`) every worker writes its samples to
files under PROMETHEUS_MULTIPROC_DIR and a scrape, whichever worker answers it, adds them all
up. Live gauges (connections, streaming turns) of a worker that is gone are dropped: each
worker marks itself dead on a clean exit, and a scrape sweeps the files of workers that
died without one.
"""

from __future__ import annotations

import hmac
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_dead_workers(directory: Path) -> None:
    """Drop the live gauges of worker processes that no longer exist."""
    pids = {int(m.group(1)) for f in os.listdir(directory) if (m := _LIVE_FILE.match(f))}
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def mark_this_worker_dead() -> None:
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    sweep_dead_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _bears(request: Request, token: SecretStr) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def metrics_endpoint(token: SecretStr | None) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(request: Request) -> Response:
        if token is not None and not _bears(request, token):
            headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}
            return Response("Unauthorized\n", status_code=401, headers=headers)
        # Reading N workers' files is blocking I/O: off the event loop.
        body = await run_in_threadpool(exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics


def fresh_multiprocess_dir(data_dir: Path) -> Path:
    """An empty directory for this run's worker metrics: files of an earlier run would add
    their counts to this one's."""
    directory = data_dir / "prometheus"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory.resolve()

"""An embedded PostgreSQL under data_dir, for a machine with no database configured.

pgserver ships the PostgreSQL binaries in its wheel; the cluster it creates is kept across
restarts, so `make serve` twice finds yesterday's conversations. Its commands' output goes to
`data_dir/postgres.log` (app/logging_setup.py), the server's own log to `pgdata/log`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("reactor.db")

_servers: dict[Path, Any] = {}


def embedded_url(data_dir: Path) -> str:
    """Start (or join) the embedded server and return its URL. Stops when the process exits."""
    with warnings.catch_warnings():
        # pgserver puts its lock file in the user's runtime directory; with no
        # XDG_RUNTIME_DIR (a container, a cron job) platformdirs falls back to /tmp and warns.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - only without a database

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    if pgdata not in _servers:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        _servers[pgdata] = get_server(pgdata, cleanup_mode="stop")
    return str(_servers[pgdata].get_uri())

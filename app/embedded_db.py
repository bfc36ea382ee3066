"""An embedded PostgreSQL under data_dir, for a machine with no database configured.

pgserver ships the PostgreSQL binaries in its wheel; the cluster it creates is kept across
restarts, so `make serve` twice finds yesterday's conversations.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("reactor.db")

_servers: dict[Path, Any] = {}


def embedded_url(data_dir: Path) -> str:
    """Start (or join) the embedded server and return its URL. Stops when the process exits."""
    from pgserver.postgres_server import get_server  # noqa: PLC0415 - only without a database

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    if pgdata not in _servers:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        _servers[pgdata] = get_server(pgdata, cleanup_mode="stop")
    return str(_servers[pgdata].get_uri())

"""/healthz: the process is alive. /readyz: it can serve (database reachable, schema at head)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.migrations import current_revisions, head_revisions
from resolvers.context import Services

log = logging.getLogger("reactor.health")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    try:
        async with services.engine.connect() as conn:
            # Reading the schema's revision is also the reachability check.
            current = await current_revisions(conn)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is logged
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    heads = head_revisions()
    if current != heads:
        body = {
            "status": "unavailable",
            "migrations": {"current": sorted(current), "head": sorted(heads)},
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok"})

"""This process's heartbeat, and the sweep that lays ghost turns to rest.

Every process beats in `turn_processes` every third of `[chat] turn_lease_seconds`. A turn
whose process has not beaten for a whole lease was left `streaming` by a process that died
(killed, out of memory, its machine gone): a live process marks its reply `incomplete`
(finish reason `interrupted`) and takes it off the turns in flight, so the user's cap frees
and every client sees how it ended. Each process sweeps at start-up and at every beat, so a
ghost is laid to rest within about a lease and a third of its process's death.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from db import turns as turn_queries
from db.records import MessageRow
from db.session import turn_service_transaction
from resolvers.context import Services

log = logging.getLogger("reactor.chat.liveness")


class Liveness:
    def __init__(
        self, services: Services, on_swept: Callable[[MessageRow], Awaitable[None]] | None = None
    ) -> None:
        self.services = services
        self.lease = timedelta(seconds=services.chat.turn_lease_seconds)
        self._on_swept = on_swept
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.beat()
            await self.sweep()
        except Exception as exc:  # noqa: BLE001 - the database may come later; the loop retries
            log.warning("first heartbeat failed: %s", type(exc).__name__)
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Left cleanly: anything of ours still in flight is a ghost for the others to sweep.
        with contextlib.suppress(Exception):
            async with turn_service_transaction(self.services.engine) as conn:
                await turn_queries.leave(conn, self.services.process_id)

    async def _run(self) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat()
                await self.sweep()
            except Exception as exc:  # noqa: BLE001 - the next beat tries again
                log.warning("heartbeat or sweep failed: %s", type(exc).__name__)

    async def beat(self) -> None:
        async with turn_service_transaction(self.services.engine) as conn:
            await turn_queries.heartbeat(conn, self.services.process_id)

    async def sweep(self) -> list[MessageRow]:
        async with turn_service_transaction(self.services.engine) as conn:
            marked = await turn_queries.sweep(
                conn,
                dead_after=self.lease,
                process=self.services.process_id,
                running=self.services.hub.running(),
                calls=set(self.services.turns.calls),
            )
        if marked:
            log.warning("%d reply(ies) left streaming by a stopped process: marked", len(marked))
        if self._on_swept is not None:
            for row in marked:
                await self._on_swept(row)
        return marked

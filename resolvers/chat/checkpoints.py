"""The checkpoints of every reply streaming in this process: one statement an interval for all.

Every `[chat] checkpoint_interval` seconds, while replies stream here, the text of each one
that grew since it was last written goes to the database in one statement
(`db/turns.py:checkpoint_many`, as `turn_service`) instead of a transaction per
reply: at 500 turns in flight that is one statement a second, not 500.

- A reply is written only while it is `streaming` and a turn in flight of this process for
  its user: a reply finished (its final save deleted the turn), deleted mid-turn (its
  conversation gone) or anyone else's is never written, and an update creates no row.
- Each reply is written at most once an interval: one batch follows the previous one's end
  by an interval.
- The batch runs in a task of its own, so no stream waits for it, and shielded (the turn
  registry's `shielded`): a write that has begun ends, and shutdown waits for it. A failed
  batch is logged (reply counts, never text) and the next one writes what it missed.
- Where the login role may not become `turn_service` (a deployment that has not granted it,
  docs/deploy.md), the first refusal switches this process to a transaction per reply as its
  user, under row-level security.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from db import turns as turn_queries
from db.session import turn_service_transaction

if TYPE_CHECKING:
    from uuid import UUID

    from resolvers.chat.reply import Reply
    from resolvers.context import Services

log = logging.getLogger("reactor.chat")

_INSUFFICIENT_PRIVILEGE = "42501"


class Checkpoints:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._replies: dict[UUID, Reply] = {}
        self._task: asyncio.Task[None] | None = None
        # False once turn_service was refused: each reply is then written as its user.
        self.batched = True
        # Statements run (batches, or single writes after a refusal), for the tests.
        self.statements = 0

    def add(self, reply: Reply) -> None:
        """Checkpoint `reply` while it streams, until `discard`."""
        self._replies[reply.reply_id] = reply
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def discard(self, reply: Reply) -> None:
        if self._replies.get(reply.reply_id) is reply:
            del self._replies[reply.reply_id]
        if not self._replies and self._task is not None:
            # Asleep, or awaiting a shielded write that goes on to its end regardless.
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._services.chat.checkpoint_interval)
            due = [(r, r.text) for r in self._replies.values() if r.length > r.checkpointed]
            if not due:
                continue
            try:
                await self._services.turns.shielded(self._write(due))
            except Exception as exc:  # noqa: BLE001 - the loop outlives any one batch
                log.warning("checkpoints of %d replies failed: %s", len(due), type(exc).__name__)

    async def _write(self, due: list[tuple[Reply, str]]) -> None:
        if self.batched and await self._write_batch(due):
            return
        for reply, text in due:
            await self._write_one(reply, text)

    async def _write_batch(self, due: list[tuple[Reply, str]]) -> bool:
        """True when the batch was tried as `turn_service` (written or failed)."""
        services = self._services
        rows = [(reply.reply_id, reply.user_id, text) for reply, text in due]
        self.statements += 1
        try:
            async with turn_service_transaction(services.engine) as conn:
                written = await turn_queries.checkpoint_many(conn, services.process_id, rows)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
                self.batched = False
                log.warning(
                    "checkpoints: the login role may not become turn_service; one per reply"
                )
                return False
            log.warning("checkpoints of %d replies failed: %s", len(rows), type(exc).__name__)
            return True
        except Exception as exc:  # noqa: BLE001 - the next batch or the final save writes it
            log.warning("checkpoints of %d replies failed: %s", len(rows), type(exc).__name__)
            return True
        for reply, text in due:
            if reply.reply_id in written:
                reply.checkpointed = len(text)
        return True

    async def _write_one(self, reply: Reply, text: str) -> None:
        self.statements += 1
        try:
            async with reply.ctx.db() as conn:
                await turn_queries.checkpoint(conn, reply.reply_id, text)
        except Exception as exc:  # noqa: BLE001 - the next checkpoint or the final save retries
            log.warning("chat turn %s: checkpoint failed: %s", reply.reply_id, type(exc).__name__)
            return
        reply.checkpointed = len(text)

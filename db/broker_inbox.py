"""One subscriber's queue, shared by both broker engines: messages in publishing order, then
either the end (the broker closed) or `BrokerLost`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from db.broker import BrokerLost

# Messages a subscriber may be behind before it is dropped. A stalled consumer (a client that
# stopped reading its WebSocket) must not grow a worker's memory: 2,000 messages of at most
# MAX_MESSAGE_BYTES is 14 MB at worst, a few hundred KB for streamed text.
MAX_PENDING = 2_000


@dataclass(frozen=True, slots=True)
class _End:
    reason: str | None
    cause: BaseException | None


class Inbox:
    """Fed synchronously by the broker's reader (no awaiting, so publishing order is kept),
    drained by the subscriber's `async for`."""

    def __init__(self, topic: str, max_pending: int = MAX_PENDING) -> None:
        self.topic = topic
        self._max_pending = max_pending
        self._queue: asyncio.Queue[str | bytes | _End] = asyncio.Queue()
        self.finished = False

    def deliver(self, encoded: str | bytes) -> None:
        """Queue one message, still JSON: each subscriber decodes its own copy, so none can
        change what another receives."""
        if self.finished:
            return
        if self._queue.qsize() >= self._max_pending:
            # What is queued is stale once messages are missed: free it now.
            while not self._queue.empty():
                self._queue.get_nowait()
            self.fail(f"subscriber fell {self._max_pending} messages behind")
            return
        self._queue.put_nowait(encoded)

    def fail(self, reason: str | None, cause: BaseException | None = None) -> None:
        """End the subscription after what is queued: with `BrokerLost(reason)`, or cleanly
        when `reason` is None."""
        if not self.finished:
            self.finished = True
            self._queue.put_nowait(_End(reason, cause))

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        item = await self._queue.get()
        if isinstance(item, _End):
            # Stay ended for a caller that iterates again.
            self._queue.put_nowait(item)
            if item.reason is not None:
                raise BrokerLost(item.reason) from item.cause
            raise StopAsyncIteration
        message: dict[str, Any] = json.loads(item)
        return message


def encode(message: dict[str, Any]) -> str:
    """Compact JSON, non-ASCII kept as UTF-8: the size limit counts bytes on the wire."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)

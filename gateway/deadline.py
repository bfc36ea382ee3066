"""A timeout for awaiting a stream's next event, cheap enough to use on every delta.

`asyncio.timeout` around each `anext` costs a timer per delta. Here one timer per deadline
cancels the consuming task only while it awaits the provider, never while the consumer is
busy with its own work between two events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    __slots__ = ("_cancelled", "_expired", "_handle", "_loop", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._expired = False
        self._cancelled = False

    def set(self, when: float) -> None:
        """(Re)arm for the loop time `when`."""
        if self._handle is not None:
            self._handle.cancel()
        self._expired = False
        self._handle = self._loop.call_at(when, self._expire)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        self._expired = True
        if self._task is not None:
            self._cancelled = True
            self._task.cancel()

    async def next(self, events: AsyncIterator[T]) -> T:
        """`anext(events)`, raising TimeoutError once the deadline has passed."""
        if self._expired:
            raise TimeoutError
        task = self._task = asyncio.current_task()
        try:
            return await anext(events)
        except asyncio.CancelledError:
            if self._cancelled and task is not None:
                self._cancelled = False
                if task.uncancel() == 0:
                    raise TimeoutError from None
            raise
        finally:
            self._task = None

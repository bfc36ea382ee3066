"""The chat turns in flight in this process, for graceful shutdown.

A turn registers once its user message is saved and leaves when its reply is saved, complete
or partial. Shutdown first lets turns finish (`wait_idle`), then cancels the rest
(`cancel_all`): each cancelled turn closes its upstream stream and saves its partial reply
marked incomplete before it leaves, and `cancel_all` waits for those saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from uuid import UUID

T = TypeVar("T")


class TurnRegistry:
    def __init__(self) -> None:
        # The tasks running turns: cancelling one ends its turn the way a client leaving does.
        self._turns: set[asyncio.Task[Any]] = set()
        self._saves: set[asyncio.Task[Any]] = set()
        # The turns of the `/ai/v1` calls in flight here (they have no reply row): the sweep
        # must not take a long call for a ghost.
        self.calls: set[UUID] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self) -> asyncio.Task[Any]:
        """Register the running task as a turn; hand the result to `end`."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a turn runs in a task")
        self._turns.add(task)
        self._idle.clear()
        return task

    def end(self, turn: asyncio.Task[Any]) -> None:
        self._turns.discard(turn)
        self._settle()

    def _settle(self) -> None:
        if not self._turns and not self._saves:
            self._idle.set()

    def save(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start `work` as a task of its own that runs to its end whatever becomes of the
        caller: a save that has started is never cut short, and shutdown waits for it."""
        task = asyncio.ensure_future(work)
        self._saves.add(task)
        self._idle.clear()

        def done(finished: asyncio.Task[Any]) -> None:
            self._saves.discard(finished)
            self._settle()

        task.add_done_callback(done)
        return task

    async def shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """`save`, awaited: the caller's cancellation does not reach the work."""
        return await asyncio.shield(self.save(work))

    async def taken_back_if_left(
        self, work: Coroutine[Any, Any, T], undo: Callable[[T], Coroutine[Any, Any, Any]]
    ) -> T:
        """`shielded`, for work that takes something the caller must give back (a place
        among the turns in flight): if the caller leaves before the work ends, the work still
        runs to its end and `undo(result)` then gives it back, as a save of its own."""
        task = self.save(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:

            def give_back(finished: asyncio.Task[T]) -> None:
                if not finished.cancelled() and finished.exception() is None:
                    self.save(undo(finished.result()))

            task.add_done_callback(give_back)
            raise

    async def wait_idle(self, seconds: float) -> bool:
        """Wait up to `seconds` for every turn and save to end; True if they did."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def cancel_all(self, wait_seconds: float = 10.0) -> int:
        """Cancel every turn in flight and wait (up to `wait_seconds`) for their partial replies
        to be saved. Returns how many turns were cancelled."""
        turns = list(self._turns)
        for turn in turns:
            if not turn.done():
                turn.cancel()
        await self.wait_idle(wait_seconds)
        return len(turns)

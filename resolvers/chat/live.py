"""The turns running in this process, and the clients following them.

A turn belongs to its conversation, not to a connection: its task writes the reply to the end
whatever its followers do. Each follower reads through a bounded buffer of its own; one that
falls that far behind is dropped with an error (it can rejoin with `resumeChat`) and never
slows the turn or anyone else. A follower that joins late starts from a snapshot of the reply
so far, taken in the same step of the event loop as its registration, so snapshot plus the
deltas that follow are the reply exactly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from resolvers.chat.events import TurnCompleted, TurnDelta, TurnEvent
from resolvers.errors import RateLimited


@dataclass(frozen=True, slots=True)
class TurnSnapshot:
    """The reply so far, first to a follower that rejoins."""

    text: str


Followed = TurnEvent | TurnSnapshot


class FellBehind(RateLimited):
    def __init__(self) -> None:
        super().__init__(
            "This connection fell too far behind the reply and was let go; the reply goes on."
            " Rejoin it with resumeChat.",
            retry_after=0,
        )


class Follower:
    """One client's view of a turn: `async for event in follower`."""

    def __init__(self, turn: LiveTurn, limit: int) -> None:
        self._turn = turn
        self._limit = limit
        self._events: deque[Followed] = deque()
        self._end: BaseException | None = None
        self._ended = False
        self._wake = asyncio.Event()

    def push(self, event: Followed) -> None:
        if self._ended:
            return
        if len(self._events) >= self._limit:
            # Memory stays bounded: the backlog goes, and the follower learns why.
            self._events.clear()
            self.end(FellBehind())
            self._turn.unfollow(self)
            return
        self._events.append(event)
        self._wake.set()

    def end(self, error: BaseException | None = None) -> None:
        if not self._ended:
            self._ended, self._end = True, error
            self._wake.set()

    def close(self) -> None:
        """The client left: it only detaches."""
        self._events.clear()
        self._ended = True
        self._turn.unfollow(self)

    def __aiter__(self) -> AsyncIterator[Followed]:
        return self

    async def __anext__(self) -> Followed:
        while not self._events:
            if self._ended:
                if self._end is not None:
                    raise self._end
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._events.popleft()


class LiveTurn:
    """A turn in flight here: the reply's text so far, its followers, and how it ended."""

    def __init__(
        self, reply_id: UUID, conversation_id: UUID, user_id: UUID, buffer_limit: int
    ) -> None:
        self.reply_id = reply_id
        self.conversation_id = conversation_id
        self.user_id = user_id
        self._buffer_limit = buffer_limit
        self._parts: list[str] = []
        self._followers: set[Follower] = set()
        self.task: asyncio.Task[None] | None = None
        # Why the turn is being ended early, when it is: "cancelled" (stopChat), "interrupted"
        # (the process shuts down).
        self.stop_reason: str | None = None
        self.done = asyncio.Event()

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def follow(self, *, snapshot: bool) -> Follower:
        follower = Follower(self, self._buffer_limit)
        if snapshot:
            follower.push(TurnSnapshot(self.text))
        if self.done.is_set():
            follower.end()
        else:
            self._followers.add(follower)
        return follower

    def unfollow(self, follower: Follower) -> None:
        self._followers.discard(follower)

    def emit(self, event: TurnEvent) -> None:
        if type(event) is TurnDelta:
            self._parts.append(event.text)
        for follower in tuple(self._followers):
            follower.push(event)

    def finish(self, completed: TurnCompleted | None, error: BaseException | None) -> None:
        """The last word to every follower: the saved reply, or the error that ended it."""
        if completed is not None:
            self.emit(completed)
        for follower in tuple(self._followers):
            follower.end(error)
        self._followers.clear()
        self.done.set()

    def stop(self, reason: str) -> bool:
        """End the turn early; its task saves the reply so far. False when already ending."""
        if self.task is None or self.task.done() or self.stop_reason is not None:
            return False
        self.stop_reason = reason
        self.task.cancel()
        return True


class TurnHub:
    """The turns of this process by reply id, for followers that rejoin and for stopChat."""

    def __init__(self) -> None:
        self._turns: dict[UUID, LiveTurn] = {}

    def add(self, turn: LiveTurn) -> None:
        self._turns[turn.reply_id] = turn

    def remove(self, turn: LiveTurn) -> None:
        if self._turns.get(turn.reply_id) is turn:
            del self._turns[turn.reply_id]

    def get(self, reply_id: UUID) -> LiveTurn | None:
        return self._turns.get(reply_id)

    def running(self) -> set[UUID]:
        return set(self._turns)

    def stop_conversation(self, conversation_id: UUID) -> None:
        for turn in list(self._turns.values()):
            if turn.conversation_id == conversation_id:
                turn.stop("cancelled")

"""Turns and conversations across processes, through the broker (db/broker.py).

- **Stop**: `stopChat` on a process that does not run the turn publishes `stop` on
  `turns:control`; the process that runs it stops it.
- **Rejoin live**: a follower elsewhere subscribes to `turn:<reply id>` and publishes `watch`;
  the process running the turn answers with a snapshot of the reply so far and then its
  deltas, each with the offset it starts at: a delta at once, those that follow within
  `FLUSH_SECONDS` together. Offsets make the
  follower exact whatever it receives twice; a gap or a silent owner falls back to the
  checkpoints in the database. An owner publishes only while someone watches (a watch lasts
  `WATCH_SECONDS` and is renewed), so a turn nobody else follows costs the broker nothing.
- **Conversation events**: `conversation:<id>` carries ids only (what was added, changed or
  deleted); each subscriber reads the rows under its own row-level security.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

from db.broker import MAX_MESSAGE_BYTES, Broker, BrokerLost
from db.records import MessageRow
from resolvers.chat.events import TurnCompleted, TurnDelta, Usage
from resolvers.chat.live import Followed, Follower, LiveTurn, TurnHub, TurnSnapshot

log = logging.getLogger("reactor.chat.relay")

# Reads a reply as the follower may see it; NotFound when it is gone.
ReadReply = Callable[[UUID], Awaitable[MessageRow]]

CONTROL = "turns:control"
# How often a follower of a reply written elsewhere reads its checkpoint, with no live text.
POLL_SECONDS = 0.2
FLUSH_SECONDS = 0.005
WATCH_SECONDS = 30.0
RENEW_SECONDS = 10.0
SNAPSHOT_WAIT_SECONDS = 1.5
# Characters per published piece: JSON may escape each into six bytes.
_PIECE = (MAX_MESSAGE_BYTES - 200) // 6


def turn_topic(reply_id: UUID) -> str:
    return f"turn:{reply_id}"


def conversation_topic(conversation_id: UUID) -> str:
    return f"conversation:{conversation_id}"


def _pieces(text: str) -> list[str]:
    return [text[i : i + _PIECE] for i in range(0, len(text), _PIECE)] or [""]


class _Publisher:
    """Publishes one local turn's text to its watchers elsewhere while they watch.

    A delta is published at once when none was in the last `FLUSH_SECONDS`, and otherwise
    with the others that arrive until then: a turn streaming at a model's pace is relayed
    with no added wait, a burst in a few messages. An idle publisher sleeps until its next
    event or the end of the watch, not every flush interval."""

    def __init__(self, broker: Broker, turn: LiveTurn, on_end: Callable[[UUID], object]) -> None:
        self.broker = broker
        self.turn = turn
        self.topic = turn_topic(turn.reply_id)
        self.until = 0.0
        self._on_end = on_end
        self._task: asyncio.Task[None] | None = None
        self._follower: Follower | None = None

    def watch(self) -> None:
        self.until = asyncio.get_running_loop().time() + WATCH_SECONDS
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        elif self._follower is not None:
            # A newcomer needs the text so far: a later snapshot wakes the running publisher,
            # which sends it again.
            self._follower.push(TurnSnapshot(""))

    async def _publish_text(self, kind: str, offset: int, text: str) -> None:
        for piece in _pieces(text):
            await self.broker.publish(self.topic, {"k": kind, "o": offset, "x": piece})
            offset += len(piece)
            kind = "d"

    async def _run(self) -> None:
        follower = self._follower = self.turn.follow(snapshot=True)
        loop = asyncio.get_running_loop()
        offset = 0
        pending: list[str] = []
        flushed = -FLUSH_SECONDS
        try:
            events = aiter(follower)
            snapshot = await anext(events)
            if isinstance(snapshot, TurnSnapshot):
                await self._publish_text("s", 0, snapshot.text)
                offset = len(snapshot.text)
            while (now := loop.time()) < self.until:
                wait = flushed + FLUSH_SECONDS - now if pending else self.until - now
                try:
                    event = await asyncio.wait_for(anext(events), max(wait, 0.001))
                except TimeoutError:
                    event = None
                if type(event) is TurnDelta:
                    pending.append(event.text)
                    if loop.time() < flushed + FLUSH_SECONDS:
                        continue
                if pending:
                    text = "".join(pending)
                    pending.clear()
                    await self._publish_text("d", offset, text)
                    offset += len(text)
                    flushed = loop.time()
                if isinstance(event, TurnSnapshot):
                    await self._publish_text("s", 0, self.turn.text[:offset])
                if isinstance(event, TurnCompleted):
                    break
        except StopAsyncIteration:
            pass
        except Exception as exc:  # noqa: BLE001 - watchers fall back to the checkpoints
            log.warning("relay: publishing reply %s failed: %s", self.turn.reply_id, exc)
        finally:
            self._follower = None
            follower.close()
            if pending:
                with contextlib.suppress(Exception):
                    await self._publish_text("d", offset, "".join(pending))
            with contextlib.suppress(Exception):
                await self.broker.publish(self.topic, {"k": "end"})
            self._on_end(self.turn.reply_id)


class TurnRelay:
    """This process's side of the relay: answers watches and stops for its own turns."""

    def __init__(self, broker: Broker, hub: TurnHub) -> None:
        self.broker = broker
        self.hub = hub
        self._publishers: dict[UUID, _Publisher] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            try:
                async with self.broker.subscribe(CONTROL) as messages:
                    self._ready.set()
                    async for message in messages:
                        self._handle(message)
            except BrokerLost:
                log.warning("relay: control subscription lost; resubscribing")
                await asyncio.sleep(0.5)

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            reply_id = UUID(str(message.get("reply") or message.get("conversation")))
        except ValueError:
            return
        if message.get("op") == "stop_conversation":
            self.hub.stop_conversation(UUID(str(message.get("conversation"))))
            return
        turn = self.hub.get(reply_id)
        if turn is None:
            return
        if message.get("op") == "stop":
            turn.stop("cancelled")
        elif message.get("op") == "watch":
            publisher = self._publishers.get(reply_id)
            if publisher is None:
                publisher = _Publisher(self.broker, turn, self._publishers.pop)
                self._publishers[reply_id] = publisher
            publisher.watch()

    async def stop_conversation_elsewhere(self, conversation_id: UUID) -> None:
        await self.broker.publish(
            CONTROL, {"op": "stop_conversation", "conversation": str(conversation_id)}
        )

    async def stop_elsewhere(self, reply_id: UUID) -> None:
        await self.broker.publish(CONTROL, {"op": "stop", "reply": str(reply_id)})

    async def follow_elsewhere(
        self, row: MessageRow, read: ReadReply
    ) -> AsyncGenerator[Followed, None]:
        """The live text of a reply another process writes; `read(reply_id)` reads its row
        as the caller may see it (for the end, and for the checkpoints to fall back on)."""
        sent: str | None = None
        try:
            async with self.broker.subscribe(turn_topic(row.id)) as messages:
                async for event in self._watched(row.id, messages):
                    if isinstance(event, TurnSnapshot):
                        if sent is None:
                            sent = event.text
                            yield event
                        elif len(event.text) > len(sent) and event.text.startswith(sent):
                            yield TurnDelta(event.text[len(sent) :])
                            sent = event.text
                    elif isinstance(event, _Piece):
                        if sent is None or event.offset > len(sent):
                            break  # a gap: the checkpoints take over
                        tail = event.text[len(sent) - event.offset :]
                        if tail:
                            sent += tail
                            yield TurnDelta(tail)
                    else:
                        # The owner ended or fell silent: the database has the rest.
                        break
        except BrokerLost:
            log.info("relay: lost the live text of reply %s; following its checkpoints", row.id)
        async for rest in from_checkpoints(row.id, sent, read):
            yield rest

    async def _watched(
        self, reply_id: UUID, messages: AsyncIterator[dict[str, Any]]
    ) -> AsyncGenerator[TurnSnapshot | _Piece | None, None]:
        """The owner's messages as events; None when it ends or falls silent."""
        loop = asyncio.get_running_loop()
        await self.broker.publish(CONTROL, {"op": "watch", "reply": str(reply_id)})
        renew_at = loop.time() + RENEW_SECONDS
        started = False
        while True:
            wait = (renew_at if started else loop.time() + SNAPSHOT_WAIT_SECONDS) - loop.time()
            try:
                message = await asyncio.wait_for(anext(messages), max(wait, 0.01))
            except TimeoutError:
                if not started:
                    yield None
                    return
                await self.broker.publish(CONTROL, {"op": "watch", "reply": str(reply_id)})
                renew_at = loop.time() + RENEW_SECONDS
                continue
            kind = message.get("k")
            if kind == "s" and int(message.get("o", 0)) == 0 and not started:
                started = True
                snapshot = str(message.get("x", ""))
                yield TurnSnapshot(snapshot)
            elif kind in ("s", "d") and started:
                yield _Piece(int(message.get("o", 0)), str(message.get("x", "")))
            elif kind == "end":
                yield None
                return


class _Piece:
    __slots__ = ("offset", "text")

    def __init__(self, offset: int, text: str) -> None:
        self.offset = offset
        self.text = text


def ended(row: MessageRow) -> TurnCompleted:
    return TurnCompleted(row, Usage.of(row.metadata))


async def from_checkpoints(
    reply_id: UUID, sent: str | None, read: ReadReply
) -> AsyncGenerator[Followed, None]:
    """A reply written elsewhere, from its checkpoints: the text only ever grows, so each
    read's new tail is the next delta. `sent`: what the follower has already been given."""
    row = await read(reply_id)
    if sent is None:
        sent = row.content
        yield TurnSnapshot(sent)
    while True:
        if len(row.content) > len(sent) and row.content.startswith(sent):
            yield TurnDelta(row.content[len(sent) :])
            sent = row.content
        if row.status != "streaming":
            yield ended(row)
            return
        await asyncio.sleep(POLL_SECONDS)
        row = await read(reply_id)

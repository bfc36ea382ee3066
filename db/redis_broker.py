"""The broker over Redis Streams, chosen with `[broker] url`.

A topic is a stream (`reactor:<topic>`). `publish` appends to it (XADD, trimmed to about
`STREAM_MAXLEN` entries) and refreshes its expiry, so an idle topic's stream vanishes after
`STREAM_TTL_SECONDS`: Redis holds nothing that must survive a restart. `subscribe` notes the
stream's last id when it subscribes and receives the entries after it, in stream order.

One reading connection per process serves every subscription, not one per subscription:
every open WebSocket that watches a conversation subscribes, so connections per subscription
would multiply Redis clients by watchers (maxclients is 10,000 by default) where this keeps
them at two per process. The reader loops on one XREAD BLOCK over all subscribed streams, each
from its own cursor; a subscription to a topic new to the process wakes it by appending to a
wake stream of the reader's own, which is in the same XREAD, so the wake cannot be lost the
way an unblock sent between two XREADs would be. As XREAD names every key, this wants one
Redis (or a primary with replicas), not Redis Cluster.

Delivery follows db/broker.py. A subscriber's queue is bounded (`max_pending`, see
db/broker_inbox.py): one that falls that far behind gets `BrokerLost` instead of growing the
process's memory. If the reading connection drops, every current subscriber gets `BrokerLost`
(entries may have been trimmed or lost with Redis meanwhile), and the next subscription
connects again. Commands are never retried, so a publish is never doubled; `publish` raises
`BrokerLost` when Redis does not take the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.typing import KeyT, StreamIdT

from db.broker import MAX_MESSAGE_BYTES, BrokerLost, MessageTooLarge
from db.broker_inbox import MAX_PENDING, Inbox, encode

KEY_PREFIX = "reactor:"
STREAM_MAXLEN = 10_000
STREAM_TTL_SECONDS = 3_600
# The reader's XREAD returns at least this often, so a dead connection is noticed within the
# socket timeout a little above it.
_BLOCK_MS = 5_000
_SOCKET_TIMEOUT_SECONDS = _BLOCK_MS / 1000 + 5
_READ_COUNT = 500
_FIELD = b"m"
_CONNECTION_ERRORS = (RedisError, OSError)

StreamId = tuple[int, int]


def _parse_id(raw: bytes | str) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _render_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def client_name(role: str) -> str:
    """What CLIENT LIST shows for this process's connections: `broker` (publishing, look-ups)
    or `broker-reader`."""
    return f"reactor-chat:{role}:{os.getpid()}"


class _Topic:
    def __init__(self, cursor: StreamId) -> None:
        self.cursor = cursor
        # Each subscriber with the id it subscribed after.
        self.inboxes: dict[Inbox, StreamId] = {}


class _Reader:
    """The process's reading connection, the streams it follows, and the task reading them."""

    def __init__(self, url: str) -> None:
        self.client = _client(url, "broker-reader", single_connection=True)
        self.topics: dict[bytes, _Topic] = {}
        self.wake_key = f"{KEY_PREFIX}wake:{uuid.uuid4().hex}".encode()
        self._wake_cursor: StreamId = (0, 0)
        self.lost = False
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.client.ping()
        except _CONNECTION_ERRORS as error:
            await self.client.aclose()
            raise BrokerLost(f"could not connect to Redis: {error!r}") from error
        self.task = asyncio.create_task(self._run(), name="redis-broker-reader")

    async def _run(self) -> None:
        try:
            while True:
                streams: dict[KeyT, StreamIdT] = {self.wake_key: _render_id(self._wake_cursor)}
                for key, topic in self.topics.items():
                    streams[key] = _render_id(topic.cursor)
                # RESP2: [[key, [(id, {field: value}), …]], …], or None on timeout.
                response: Any = await self.client.xread(streams, count=_READ_COUNT, block=_BLOCK_MS)
                for key, entries in response or ():
                    self._dispatch(key, entries)
        except _CONNECTION_ERRORS as error:
            self.end("the Redis reading connection was lost", error)
        except Exception as error:  # noqa: BLE001 - whatever stops the reader must reach its subscribers
            self.end(f"the Redis reader failed: {error!r}", error)
        # Cancelled (close): the connection is closed there, in bounded time. Awaiting it here,
        # in a task being cancelled mid-XREAD, could wait on the connection's lock forever.
        else:
            return
        await _disconnect(self.client)

    def _dispatch(self, key: bytes, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        if not entries:
            return
        last = _parse_id(entries[-1][0])
        if key == self.wake_key:
            self._wake_cursor = last
            return
        # Looked up now: the topic may have been left, or left and joined again, meanwhile.
        topic = self.topics.get(key)
        if topic is None:
            return
        for raw_id, fields in entries:
            entry_id = _parse_id(raw_id)
            body = fields.get(_FIELD)
            if body is None:
                continue
            for inbox, after in topic.inboxes.items():
                if entry_id > after:
                    inbox.deliver(body)
        topic.cursor = max(topic.cursor, last)

    def end(self, reason: str | None, cause: BaseException | None = None) -> None:
        self.lost = True
        for topic in self.topics.values():
            for inbox in topic.inboxes:
                inbox.fail(reason, cause)
        self.topics.clear()

    async def close(self) -> None:
        self.end(None)
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=_CLOSE_SECONDS)
        await _disconnect(self.client)


_CLOSE_SECONDS = 5.0


async def _disconnect(client: Redis) -> None:
    """Close `client` in bounded time: a graceful close that hangs drops the socket instead."""
    try:
        await asyncio.wait_for(client.aclose(), _CLOSE_SECONDS)
    except (TimeoutError, *_CONNECTION_ERRORS):
        connection = client.connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)


def _client(url: str, role: str, *, single_connection: bool = False) -> Redis:
    return Redis.from_url(
        url,
        single_connection_client=single_connection,
        client_name=client_name(role),
        # A retried XADD may be a doubled one; a silently reconnected reader may have missed
        # entries. Either way the caller is told instead.
        retry=Retry(NoBackoff(), 0),
        socket_timeout=_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=10,
    )


class RedisBroker:
    """`Broker` over Redis Streams at `url` (`redis://` or `rediss://`)."""

    def __init__(self, url: str, *, max_pending: int = MAX_PENDING) -> None:
        self._url = url
        self._max_pending = max_pending
        # Publishing and the subscribers' look-ups: a pool, as they may run concurrently.
        self._commands = _client(url, "broker")
        self._reader: _Reader | None = None
        self._reader_lock = asyncio.Lock()
        self._closed = False

    async def start(self) -> None:
        async with self._reader_lock:
            await self._reading()

    async def close(self) -> None:
        self._closed = True
        async with self._reader_lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await self._commands.aclose()

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        body = encode(message).encode()
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"message is {len(body)} bytes, at most {MAX_MESSAGE_BYTES}")
        if self._closed:
            raise BrokerLost("the broker is closed")
        key = KEY_PREFIX + topic
        try:
            async with self._commands.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {_FIELD: body}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.expire(key, STREAM_TTL_SECONDS)
                await pipe.execute()
        except _CONNECTION_ERRORS as error:
            raise BrokerLost(f"could not publish: {error!r}") from error

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        key = (KEY_PREFIX + topic).encode()
        inbox = Inbox(topic, self._max_pending)
        async with self._reader_lock:
            reader = await self._reading()
        try:
            # The stream's last id now: subscribed means "after this entry" ((0, 0) when the
            # stream does not exist yet; Redis never issues 0-0).
            last: Any = await self._commands.xrevrange(key, count=1)
        except _CONNECTION_ERRORS as error:
            raise BrokerLost(f"could not subscribe: {error!r}") from error
        after = _parse_id(last[0][0]) if last else (0, 0)
        if reader.lost:
            raise BrokerLost("the Redis reading connection was lost")
        joined = reader.topics.get(key)
        if joined is None:
            joined = reader.topics[key] = _Topic(after)
        joined.inboxes[inbox] = after
        try:
            if len(joined.inboxes) == 1:
                await self._wake(reader)
            yield inbox
        finally:
            inbox.fail(None)
            # The reader keeps reading a left stream until its current XREAD returns, then
            # drops it; entries meanwhile are ignored.
            joined.inboxes.pop(inbox, None)
            if not joined.inboxes and reader.topics.get(key) is joined:
                del reader.topics[key]

    async def _wake(self, reader: _Reader) -> None:
        """Make the reader start a new XREAD that includes a stream just joined."""
        try:
            async with self._commands.pipeline(transaction=False) as pipe:
                pipe.xadd(reader.wake_key, {b"w": b""}, maxlen=1, approximate=False)
                pipe.expire(reader.wake_key, STREAM_TTL_SECONDS)
                await pipe.execute()
        except _CONNECTION_ERRORS as error:
            raise BrokerLost(f"could not subscribe: {error!r}") from error

    async def _reading(self) -> _Reader:
        """The live reader, starting one if there is none; hold `_reader_lock`."""
        if self._closed:
            raise BrokerLost("the broker is closed")
        if self._reader is None or self._reader.lost:
            reader = _Reader(self._url)
            await reader.start()
            self._reader = reader
        return self._reader

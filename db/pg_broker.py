"""The broker over PostgreSQL's LISTEN/NOTIFY: nothing to run beside the database.

Each process keeps one listening connection for all its subscriptions: a topic maps to a
channel `rc_<hash>` (identifiers are at most 63 bytes, topics may be longer), LISTENed while
the topic has a subscriber in this process. A notification carries its topic before the
message (`"turn:…"{…}`), so two topics whose hashes collide still reach only their own
subscribers. Publishing is `pg_notify` on a second connection: the listening one must stay
free to receive.

Delivery follows db/broker.py. A subscriber's queue is bounded (`max_pending`, see
db/broker_inbox.py): one that falls that far behind gets `BrokerLost` instead of growing the
process's memory. If the listening connection is lost (a restart, a failover,
`pg_terminate_backend`, a ping that goes unanswered) every current subscriber gets
`BrokerLost`, and the next subscription connects again. `publish` raises `BrokerLost` when
PostgreSQL does not take the message.

LISTEN needs a session of its own: point the broker at PostgreSQL directly, not at a
PgBouncer in transaction mode (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from db.broker import MAX_MESSAGE_BYTES, BrokerLost, MessageTooLarge
from db.broker_inbox import MAX_PENDING, Inbox, encode

# NOTIFY refuses a payload of 8000 bytes or more; the topic rides in front of the message.
_MAX_PAYLOAD_BYTES = 7999
# A listening connection only receives, so a dead network path (no reset) would go unnoticed:
# ping it, and count no answer as the connection lost.
_PING_SECONDS = 30.0
_PING_TIMEOUT_SECONDS = 10.0
_CONNECT_TIMEOUT_SECONDS = 10.0
# A LISTEN, UNLISTEN or NOTIFY that takes longer counts as its connection lost: each holds a
# lock that closing (and every other subscriber) waits for.
_STATEMENT_TIMEOUT_SECONDS = 10.0
# How long closing waits for each graceful step (the pinger, a lock's holder, PostgreSQL's
# goodbye) before it cuts the connection instead.
_CLOSE_TIMEOUT_SECONDS = 5.0
# Named so operators (and the tests) can tell the two apart in pg_stat_activity.
LISTEN_APPLICATION = "reactor-chat broker listen"
NOTIFY_APPLICATION = "reactor-chat broker notify"

_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
_decoder = json.JSONDecoder()


def channel_for(topic: str) -> str:
    """A valid unquoted identifier of 35 bytes for any topic."""
    return "rc_" + hashlib.sha256(topic.encode()).hexdigest()[:32]


def _dsn(url: str) -> str:
    """asyncpg takes libpq URLs: drop a SQLAlchemy driver suffix such as `+asyncpg`."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class _Listener:
    """One listening connection and the subscribers it serves, by channel."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.channels: dict[str, set[Inbox]] = {}
        self.lost = False
        self.closing = False
        conn.add_termination_listener(self._on_terminated)

    def on_notify(self, conn: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        # asyncpg calls this with call_soon, in the order notifications arrived.
        inboxes = self.channels.get(channel)
        if not inboxes:
            return
        try:
            topic, end = _decoder.raw_decode(payload)
        except ValueError:
            return  # not ours: someone else NOTIFYing on an rc_ channel
        body = payload[end:]
        for inbox in inboxes:
            if inbox.topic == topic:
                inbox.deliver(body)

    async def statement(self, run: Awaitable[None]) -> None:
        """LISTEN or UNLISTEN, bounded: one that hangs counts as the connection lost (every
        subscriber gets BrokerLost, as after a failed ping)."""
        try:
            await asyncio.wait_for(run, _STATEMENT_TIMEOUT_SECONDS)
        except TimeoutError:
            self.conn.terminate()
            raise

    def _on_terminated(self, conn: asyncpg.Connection) -> None:
        self.end(None if self.closing else "the PostgreSQL listening connection was lost")

    def end(self, reason: str | None) -> None:
        self.lost = True
        for inboxes in self.channels.values():
            for inbox in inboxes:
                inbox.fail(reason)
        self.channels.clear()


class PgBroker:
    """`Broker` over LISTEN/NOTIFY on the database at `url` (any form db/engine.py accepts)."""

    def __init__(self, url: str, *, max_pending: int = MAX_PENDING, label: str = "") -> None:
        """`label` is added to the connections' application names, to tell them apart."""
        self._dsn = _dsn(url)
        self._label = label
        self._max_pending = max_pending
        self._listener: _Listener | None = None
        # Guards LISTEN/UNLISTEN and the ping: asyncpg runs one statement at a time.
        self._listen_lock = asyncio.Lock()
        self._publisher: asyncpg.Connection | None = None
        self._publish_lock = asyncio.Lock()
        self._pinger: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        async with self._listen_lock:
            await self._listening()
        async with self._publish_lock:
            await self._publishing()
        self._pinger = asyncio.create_task(self._ping(), name="pg-broker-ping")

    async def close(self) -> None:
        """Ends every subscription and closes both connections, in bounded time whatever
        state they are in: a step that does not end gracefully in time cuts its connection."""
        self._closed = True
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.wait([self._pinger], timeout=_CLOSE_TIMEOUT_SECONDS)
        async with _held(self._listen_lock, self._cut_listener):
            listener, self._listener = self._listener, None
            if listener is not None:
                listener.closing = True
                await _close(listener.conn)
                # Subscribers end now, not when asyncpg's callback gets its turn.
                listener.end(None)
        async with _held(self._publish_lock, self._cut_publisher):
            publisher, self._publisher = self._publisher, None
            if publisher is not None:
                await _close(publisher)

    def _cut_listener(self) -> None:
        if self._listener is not None:
            self._listener.closing = True
            self._listener.conn.terminate()

    def _cut_publisher(self) -> None:
        if self._publisher is not None:
            self._publisher.terminate()

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        body = encode(message)
        size = len(body.encode())
        if size > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"message is {size} bytes, at most {MAX_MESSAGE_BYTES}")
        payload = json.dumps(topic, ensure_ascii=False) + body
        if len(payload.encode()) > _MAX_PAYLOAD_BYTES:
            raise MessageTooLarge("topic and message exceed NOTIFY's 8000 bytes")
        async with self._publish_lock:
            conn = await self._publishing()
            try:
                await conn.execute(
                    "select pg_notify($1, $2)",
                    channel_for(topic),
                    payload,
                    timeout=_STATEMENT_TIMEOUT_SECONDS,
                )
            except _CONNECTION_ERRORS as error:
                if isinstance(error, TimeoutError):
                    # Hung: the next publish connects afresh.
                    conn.terminate()
                raise BrokerLost(f"could not publish: {error!r}") from error

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        channel = channel_for(topic)
        inbox = Inbox(topic, self._max_pending)
        async with self._listen_lock:
            listener = await self._listening()
            if channel not in listener.channels:
                try:
                    await listener.statement(
                        listener.conn.add_listener(channel, listener.on_notify)
                    )
                except _CONNECTION_ERRORS as error:
                    raise BrokerLost(f"could not LISTEN: {error!r}") from error
            # No await between LISTEN and this: a loss from here on reaches the inbox.
            listener.channels.setdefault(channel, set()).add(inbox)
            if listener.lost:
                inbox.fail("the PostgreSQL listening connection was lost")
        try:
            yield inbox
        finally:
            inbox.fail(None)
            # Leave at once, so nothing more is queued even if the UNLISTEN below is cancelled
            # (a leftover LISTEN only costs ignored notifications).
            inboxes = listener.channels.get(channel)
            if inboxes is not None:
                inboxes.discard(inbox)
                if not inboxes:
                    del listener.channels[channel]
            async with self._listen_lock:
                # Re-checked under the lock: a subscriber may have joined the channel meanwhile.
                if not listener.lost and channel not in listener.channels:
                    with contextlib.suppress(*_CONNECTION_ERRORS):
                        await listener.statement(
                            listener.conn.remove_listener(channel, listener.on_notify)
                        )

    async def _listening(self) -> _Listener:
        """The live listening connection, connecting if there is none; hold `_listen_lock`."""
        if self._closed:
            raise BrokerLost("the broker is closed")
        if self._listener is None or self._listener.lost:
            conn = await self._connect(LISTEN_APPLICATION + self._label)
            self._listener = _Listener(conn)
            # A close that gave up waiting for this connect has gone by: this one goes too.
            await self._unless_closed(conn)
        return self._listener

    async def _publishing(self) -> asyncpg.Connection:
        """The live publishing connection, connecting if there is none; hold `_publish_lock`."""
        if self._closed:
            raise BrokerLost("the broker is closed")
        if self._publisher is None or self._publisher.is_closed():
            # A notification is not durable anyway: do not wait for each one's WAL flush
            # (pg_notify gives its transaction an id, so each commit would wait for one).
            self._publisher = await self._connect(
                NOTIFY_APPLICATION + self._label, synchronous_commit="off"
            )
            await self._unless_closed(self._publisher)
        return self._publisher

    async def _unless_closed(self, conn: asyncpg.Connection) -> None:
        if self._closed:
            await _close(conn)
            raise BrokerLost("the broker is closed")

    async def _connect(self, application: str, **settings: str) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(
                self._dsn,
                timeout=_CONNECT_TIMEOUT_SECONDS,
                server_settings={"application_name": application, **settings},
            )
        except _CONNECTION_ERRORS as error:
            raise BrokerLost(f"could not connect to PostgreSQL: {error!r}") from error

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(_PING_SECONDS)
            async with self._listen_lock:
                listener = self._listener
                if listener is None or listener.lost or not listener.channels:
                    continue
                try:
                    await asyncio.wait_for(listener.conn.execute("select 1"), _PING_TIMEOUT_SECONDS)
                except _CONNECTION_ERRORS:
                    # Fires the termination listener: every subscriber gets BrokerLost.
                    listener.conn.terminate()


@contextlib.asynccontextmanager
async def _held(lock: asyncio.Lock, cut: Callable[[], None]) -> AsyncIterator[None]:
    """`lock` for closing. A holder stuck past the timeout (a statement PostgreSQL never
    answers) has its connection cut, which fails its statement; closing goes on without
    waiting for it, as nothing more runs on a cut connection."""
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_SECONDS):
            await lock.acquire()
    except TimeoutError:
        cut()
        acquired = False
    else:
        acquired = True
    try:
        yield
    finally:
        if acquired:
            lock.release()


async def _close(conn: asyncpg.Connection) -> None:
    """Closes gracefully, else terminates. The whole close is bounded here: asyncpg's own
    `timeout` does not bound every wait in every version this project allows (older ones first
    wait, unbounded, for PostgreSQL to acknowledge a cancelled statement)."""
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_SECONDS + 1):
            await conn.close(timeout=_CLOSE_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - however the graceful close failed, the connection goes
        conn.terminate()

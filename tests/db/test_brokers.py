"""Both broker engines against the same expectations (db/broker.py). Two broker instances stand
for two server processes: nothing is shared between them but the engine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db import pg_broker
from db.broker import MAX_MESSAGE_BYTES, Broker, BrokerLost, MessageTooLarge
from db.brokers import create_broker
from db.config import BrokerSettings
from db.engine import async_url
from db.pg_broker import LISTEN_APPLICATION, PgBroker
from db.redis_broker import RedisBroker, client_name

REDIS_URL = os.environ.get("REACTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TIMEOUT = 10.0
# Every test whole: none waits forever, whatever it waits on (a close, a subscription's start
# or end, a publish).
TEST_TIMEOUT = 60.0

Opener = Callable[..., Awaitable[Broker]]


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["postgres", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and "REACTOR_TEST_REDIS_URL" not in os.environ:
        if not _redis_reachable():
            pytest.skip("no Redis on 127.0.0.1:6379 (set REACTOR_TEST_REDIS_URL)")
    return str(request.param)


@pytest.fixture
def label() -> str:
    """This test's brokers' mark: a served app of the suite has brokers on the database too."""
    return f" test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def open_broker(kind: str, database_url: str, label: str) -> AsyncIterator[Opener]:
    """Starts brokers of the engine under test (one per simulated process), closed after."""
    opened: list[Broker] = []

    async def open_one(**options: Any) -> Broker:
        broker: Broker
        if kind == "redis":
            broker = RedisBroker(REDIS_URL, **options)
        else:
            broker = PgBroker(database_url, label=label, **options)
        await asyncio.wait_for(broker.start(), TIMEOUT)
        opened.append(broker)
        return broker

    yield open_one
    for broker in opened:
        await asyncio.wait_for(broker.close(), TIMEOUT)


@pytest.fixture
def drop_connections(kind: str, engine: AsyncEngine, label: str) -> Callable[[], Awaitable[int]]:
    """Kills the listening (PostgreSQL) or reading (Redis) connections of this test process's
    brokers from outside, as a restart or a failover would."""

    async def drop_pg() -> int:
        async with engine.connect() as conn:
            killed = await conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where application_name = :name and datname = current_database()"
                ),
                {"name": LISTEN_APPLICATION + label},
            )
            return len(killed.all())

    async def drop_redis() -> int:
        admin = Redis.from_url(REDIS_URL)
        try:
            clients = await admin.client_list()
            readers = [c["id"] for c in clients if c.get("name") == client_name("broker-reader")]
            for client_id in readers:
                await admin.client_kill_filter(_id=client_id)
            return len(readers)
        finally:
            await admin.aclose()

    return drop_redis if kind == "redis" else drop_pg


def _topic() -> str:
    return f"turn:{uuid.uuid4()}"


async def _take(messages: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    async def take() -> list[dict[str, Any]]:
        return [await anext(messages) for _ in range(count)]

    return await asyncio.wait_for(take(), TIMEOUT)


async def test_every_subscriber_in_every_process_gets_each_message_in_order(
    open_broker: Opener,
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a, b = await open_broker(), await open_broker()
        topic = _topic()
        sent = [{"seq": i, "text": f"chunk {i} é"} for i in range(20)]
        async with (
            a.subscribe(topic) as on_a,
            a.subscribe(topic) as also_on_a,
            b.subscribe(topic) as on_b,
        ):
            for message in sent:
                await a.publish(topic, message)
            for messages in (on_a, also_on_a, on_b):
                assert await _take(messages, len(sent)) == sent


async def test_nothing_published_before_subscribing_arrives(open_broker: Opener) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a, b = await open_broker(), await open_broker()
        topic = _topic()
        await a.publish(topic, {"seq": "before"})
        async with b.subscribe(topic) as messages:
            await a.publish(topic, {"seq": "after"})
            assert await _take(messages, 1) == [{"seq": "after"}]


async def test_other_topics_do_not_arrive(open_broker: Opener) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a, b = await open_broker(), await open_broker()
        mine, other = _topic(), _topic()
        async with b.subscribe(mine) as messages, b.subscribe(other):
            await a.publish(other, {"for": "other"})
            await a.publish(mine, {"for": "mine"})
            assert await _take(messages, 1) == [{"for": "mine"}]


async def test_pg_topics_sharing_a_channel_stay_apart(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        # What a hash collision would do: both topics on one channel.
        monkeypatch.setattr(pg_broker, "channel_for", lambda topic: "rc_collision")
        a, b = PgBroker(database_url), PgBroker(database_url)
        await a.start()
        await b.start()
        try:
            mine, other = _topic(), _topic()
            async with b.subscribe(mine) as messages, b.subscribe(other) as others:
                await a.publish(other, {"for": "other"})
                await a.publish(mine, {"for": "mine"})
                assert await _take(messages, 1) == [{"for": "mine"}]
                assert await _take(others, 1) == [{"for": "other"}]
        finally:
            await asyncio.wait_for(a.close(), TIMEOUT)
            await asyncio.wait_for(b.close(), TIMEOUT)


async def test_a_message_over_the_limit_is_refused(open_broker: Opener) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a, b = await open_broker(), await open_broker()
        topic = _topic()
        # {"text":"…"} is 11 bytes around the text.
        largest = {"text": "x" * (MAX_MESSAGE_BYTES - 11)}
        async with b.subscribe(topic) as messages:
            with pytest.raises(MessageTooLarge):
                await a.publish(topic, {"text": "x" * (MAX_MESSAGE_BYTES - 10)})
            # Bytes, not characters: é is two.
            with pytest.raises(MessageTooLarge):
                await a.publish(topic, {"text": "é" * (MAX_MESSAGE_BYTES // 2)})
            await a.publish(topic, largest)
            assert await _take(messages, 1) == [largest]


async def test_a_dropped_connection_is_reported_and_a_new_subscription_works(
    open_broker: Opener, drop_connections: Callable[[], Awaitable[int]]
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a, b = await open_broker(), await open_broker()
        topic = _topic()
        async with a.subscribe(topic) as on_a, b.subscribe(topic) as on_b:
            await a.publish(topic, {"seq": 1})
            assert await _take(on_b, 1) == [{"seq": 1}]
            assert await drop_connections() == 2
            # What arrived before the drop is still delivered, then the loss.
            assert await _take(on_a, 1) == [{"seq": 1}]
            for messages in (on_a, on_b):
                with pytest.raises(BrokerLost):
                    await asyncio.wait_for(anext(messages), TIMEOUT)
        async with b.subscribe(topic) as on_b:
            await a.publish(topic, {"seq": 2})
            assert await _take(on_b, 1) == [{"seq": 2}]


async def test_a_burst_of_a_thousand_arrives_complete_and_in_order(open_broker: Opener) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        # PostgreSQL queues notifications for listeners up to max_notify_queue_pages (8 GB by
        # default); Redis keeps the stream's last 10,000 entries.
        a, b = await open_broker(), await open_broker()
        topic = _topic()
        async with b.subscribe(topic) as messages:
            for i in range(1000):
                await a.publish(topic, {"seq": i})
            received = await _take(messages, 1000)
        assert [m["seq"] for m in received] == list(range(1000))


async def test_a_subscriber_that_falls_behind_is_dropped(open_broker: Opener) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a, b = await open_broker(), await open_broker(max_pending=10)
        topic = _topic()
        async with b.subscribe(topic) as messages:
            for i in range(50):
                await a.publish(topic, {"seq": i})
            received: list[dict[str, Any]] = []

            async def drain() -> None:
                async for message in messages:
                    received.append(message)

            with pytest.raises(BrokerLost, match="behind"):
                await asyncio.wait_for(drain(), TIMEOUT)
            assert len(received) < 50


async def test_close_ends_subscriptions(open_broker: Opener) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        a = await open_broker()
        async with a.subscribe(_topic()) as messages:
            await asyncio.wait_for(a.close(), TIMEOUT)
            assert await asyncio.wait_for(anext(messages, None), TIMEOUT) is None
        with pytest.raises(BrokerLost):
            async with a.subscribe(_topic()):
                pass


def test_create_broker_picks_redis_when_configured(database_url: str) -> None:
    assert isinstance(create_broker(BrokerSettings(), database_url), PgBroker)
    redis = BrokerSettings(url=SecretStr(REDIS_URL))
    assert isinstance(create_broker(redis, database_url), RedisBroker)


async def test_pg_takes_the_url_forms_the_engine_takes(database_url: str) -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        url = async_url(database_url)
        assert url.startswith("postgresql+asyncpg://")
        broker = PgBroker(url)
        await broker.start()
        try:
            topic = _topic()
            async with broker.subscribe(topic) as messages:
                await broker.publish(topic, {"ok": True})
                assert await _take(messages, 1) == [{"ok": True}]
        finally:
            await asyncio.wait_for(broker.close(), TIMEOUT)


class _FreezingProxy:
    """TCP between the broker and PostgreSQL that can stop passing bytes on, as a network
    path that dies without a reset does: nothing fails, nothing is answered."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._thawed = asyncio.Event()
        self._thawed.set()
        # Set once bytes are held back.
        self.holding = asyncio.Event()
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.wait_for(asyncio.gather(*self._pipes, return_exceptions=True), TIMEOUT)

    def freeze(self) -> None:
        self._thawed.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if not self._thawed.is_set():
                    self.holding.set()
                await self._thawed.wait()
                sink.write(data)
                await sink.drain()


async def test_pg_close_ends_in_bounded_time_when_postgresql_stops_answering(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Closing gives up on a graceful step this soon; a hung statement alone would hold the
    # listening lock for a minute.
    monkeypatch.setattr(pg_broker, "_CLOSE_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(pg_broker, "_STATEMENT_TIMEOUT_SECONDS", 60.0)
    url = make_url(database_url)
    proxy = _FreezingProxy(url.host or "127.0.0.1", url.port or 5432)
    async with proxy as port:
        broker = PgBroker(url.set(host="127.0.0.1", port=port).render_as_string(False))
        await asyncio.wait_for(broker.start(), TIMEOUT)

        async def subscribe() -> None:
            async with broker.subscribe(_topic()):
                pass

        proxy.freeze()
        stuck = asyncio.create_task(subscribe())
        # Its LISTEN is never answered: it holds the lock that closing needs.
        await asyncio.wait_for(proxy.holding.wait(), TIMEOUT)
        await asyncio.wait_for(broker.close(), TIMEOUT)
        # The stuck subscriber learns of it rather than waiting on.
        with pytest.raises(BrokerLost):
            await asyncio.wait_for(stuck, TIMEOUT)

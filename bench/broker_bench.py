"""Publish-to-receive lag between two broker instances (two processes' worth of connections),
for both engines: 1,000 messages of a streamed-text size at 200/s, each stamped when published.
Both instances share this process's event loop, so the figures include its scheduling, as a
worker's would. Figures go to bench/results/broker.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from db.broker import Broker
from db.pg_broker import PgBroker
from db.redis_broker import RedisBroker
from tests.support.database import create_database, drop_database, server_url

MESSAGES = 1_000
RATE_PER_S = 200
REDIS_URL = os.environ.get("REACTOR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RESULTS = Path(__file__).parent / "results" / "broker.json"


async def _lag(publisher: Broker, subscriber: Broker) -> dict[str, Any]:
    topic = f"turn:{uuid.uuid4()}"
    lags: list[float] = []
    async with subscriber.subscribe(topic) as messages:

        async def receive() -> None:
            async for message in messages:
                lags.append(time.perf_counter() - message["sent"])
                if len(lags) == MESSAGES:
                    return

        receiving = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(MESSAGES):
            # Paced against the schedule, not the previous send, so a slow one is not hidden.
            await asyncio.sleep(max(0.0, start + i / RATE_PER_S - time.perf_counter()))
            text = "a token or two of the reply " * 3
            await publisher.publish(topic, {"seq": i, "sent": time.perf_counter(), "text": text})
        await asyncio.wait_for(receiving, 10)
    lags.sort()
    return {
        "messages": len(lags),
        "p50_ms": round(statistics.median(lags) * 1000, 3),
        "p99_ms": round(lags[int(len(lags) * 0.99) - 1] * 1000, 3),
        "max_ms": round(lags[-1] * 1000, 3),
    }


async def _engine(make: type[PgBroker] | type[RedisBroker], url: str) -> dict[str, Any]:
    publisher, subscriber = make(url), make(url)
    await publisher.start()
    await subscriber.start()
    try:
        return await _lag(publisher, subscriber)
    finally:
        await publisher.close()
        await subscriber.close()


def main() -> None:
    figures: dict[str, Any] = {"messages": MESSAGES, "rate_per_s": RATE_PER_S}
    with tempfile.TemporaryDirectory() as tmp:
        server = server_url(Path(tmp))
        url = create_database(server)
        try:
            figures["postgres"] = asyncio.run(_engine(PgBroker, url))
        finally:
            drop_database(server, url)
    figures["redis"] = asyncio.run(_engine(RedisBroker, REDIS_URL))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"publish-to-receive lag, {MESSAGES} messages at {RATE_PER_S}/s, two instances")
    print(f"{'engine':<22}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, label in (("postgres", "PostgreSQL NOTIFY"), ("redis", "Redis Streams")):
        row = figures[name]
        print(f"{label:<22}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['max_ms']:>10}")


if __name__ == "__main__":
    main()

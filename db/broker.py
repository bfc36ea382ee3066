"""Messages between server processes (workers, replicas): a chat turn's live text for a client
that rejoins it elsewhere, a stop request for the process that runs a turn, a conversation's
events for every device that watches it.

Topics are short strings (`turn:<uuid>`, `conversation:<uuid>`, `turns:control`); a message
is a JSON object of at most `MAX_MESSAGE_BYTES` once encoded. A subscriber receives, in the
order they were published, the messages published on its topic after `subscribe` returned;
nothing earlier, and nothing when no one subscribes. Delivery is at most once: a subscriber
whose connection drops gets `BrokerLost` and resubscribes (callers rebuild their state from
the database, which stays the record).

Two engines carry it, both existing ones: PostgreSQL's LISTEN/NOTIFY (`db/pg_broker.py`, the
default, so nothing else must run) and Redis Streams (`db/redis_broker.py`, with
`[broker] url`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

# PostgreSQL's NOTIFY payload is at most 8000 bytes; the topic travels beside it.
MAX_MESSAGE_BYTES = 7000


class BrokerLost(Exception):
    """The subscription's connection dropped: messages may have been missed."""


class MessageTooLarge(ValueError):
    pass


class Broker(Protocol):
    async def start(self) -> None:
        """Connect; called once in the app's lifespan before any publish or subscribe."""

    async def close(self) -> None: ...

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Send `message` to the topic's current subscribers in every process."""

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """`async with broker.subscribe(topic) as messages: async for m in messages: …`;
        subscribed once the `async with` has entered."""

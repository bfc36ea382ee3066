"""Which engine carries messages between processes: Redis when `[broker] url` is set, else the
database's own LISTEN/NOTIFY."""

from __future__ import annotations

from db.broker import Broker
from db.config import BrokerSettings
from db.pg_broker import PgBroker
from db.redis_broker import RedisBroker


def create_broker(broker: BrokerSettings, database_url: str) -> Broker:
    """Not started: the app's lifespan calls `start()`."""
    if broker.url is not None:
        return RedisBroker(broker.url.get_secret_value())
    return PgBroker(database_url)

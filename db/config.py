"""The `[database]` section. With no `url` the app starts an embedded PostgreSQL and puts its
URL here before the engine is created."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class BrokerSettings(BaseModel):
    """`[broker]`: how server processes reach each other (db/broker.py). Absent: PostgreSQL's
    LISTEN/NOTIFY on the configured database."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _redis_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("redis://", "rediss://")):
            raise ValueError("broker.url must be a redis:// or rediss:// URL")
        return url


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)

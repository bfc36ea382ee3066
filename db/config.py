"""The `[database]` section. With no `url` the app starts an embedded PostgreSQL and puts its
URL here before the engine is created."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)

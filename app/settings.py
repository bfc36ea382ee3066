"""Typed settings: `Reactor.toml` (or the file named by REACTOR_CONFIG), overridden by
`REACTOR_<SECTION>__<KEY>` environment variables, with `vault:PATH` secret references
resolved before validation. Anything wrong stops start-up with a line naming the key.

Each layer owns its section (`[ai]` the gateway, `[database]` db, `[auth]` and `[chat]` the
resolvers, the GraphQL limits the schema); this module only assembles them and resolves
secrets."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.vault import PREFIX as VAULT_PREFIX
from app.vault import Vault, VaultError
from db.config import BrokerSettings, DatabaseSettings
from gateway.config import AISettings
from resolvers.auth.settings import AuthSettings
from resolvers.chat.settings import ChatSettings
from schema.limits import GraphQLLimits


class ConfigError(Exception):
    """Configuration that cannot be used; str() is one line per problem, each naming its key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


Environment = Literal["development", "production"]


class ServerSettings(GraphQLLimits):
    """`[server]`: the process, its HTTP and WebSocket transport, and (inherited, so they keep
    their keys in this section) the schema's GraphQL limits."""

    # "production": no GraphiQL and no introspection whatever their keys say, and a JWT
    # secret that was configured, not generated.
    environment: Environment = "development"
    data_dir: Path = Path(".reactor")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    # GraphiQL helps developers; off in production whatever this says.
    graphiql: bool = True
    # When set, /metrics answers only `Authorization: Bearer <metrics_token>` (any environment).
    metrics_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # A request's head (request line and headers), HTTP or WebSocket handshake; over either
    # limit it is answered 431 before the app sees it (app/http_limits.py).
    max_header_bytes: int = Field(default=32_768, ge=1024)
    max_headers: int = Field(default=100, ge=10)
    allowed_origins: list[str] = Field(default_factory=list)
    max_subscriptions_per_connection: int = Field(default=10, ge=1)
    connection_init_timeout: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: str = "INFO"
    # Access lines for /healthz and /readyz: an orchestrator probes every few seconds.
    log_probes: bool = False

    @model_validator(mode="after")
    def _production(self) -> ServerSettings:
        # The schema is not browsable in production, whatever the individual keys say (field
        # suggestions are off in every environment: schema/schema.py).
        if self.environment == "production":
            self.graphiql = False
            self.introspection = False
        return self


class VaultSettings(Section):
    dir: Path = Path(".reactor/vault")
    addr: str | None = None
    token: SecretStr | None = None
    mount: str = "secret"


def _resolve_references(value: Any, vault: Vault, key: str) -> Any:
    if isinstance(value, dict):
        return {
            k: _resolve_references(v, vault, f"{key}.{k}" if key else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_references(v, vault, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith(VAULT_PREFIX):
        try:
            return vault.resolve(value)
        except VaultError as exc:
            raise ValueError(f"{key}: cannot resolve {value}: {exc}") from None
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REACTOR_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    ai: AISettings = Field(default_factory=AISettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return (env_settings, init_settings)

    @model_validator(mode="before")
    @classmethod
    def _resolve_vault(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        raw = VaultSettings.model_validate(data.get("vault") or {})
        vault = Vault(
            dir=raw.dir,
            addr=raw.addr,
            token=raw.token.get_secret_value() if raw.token else None,
            mount=raw.mount,
        )
        return {k: v if k == "vault" else _resolve_references(v, vault, k) for k, v in data.items()}


def config_path(environ: dict[str, str] | None = None) -> tuple[Path, bool]:
    """The file to read and whether it was named explicitly (then it must exist)."""
    env = os.environ if environ is None else environ
    named = env.get("REACTOR_CONFIG")
    return (Path(named), True) if named else (Path("Reactor.toml"), False)


def _format(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{key}: {message}" if key else message)
    return "\n".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read, resolve and validate the configuration; raise ConfigError on any problem."""
    file, explicit = (path, True) if path is not None else config_path()
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{file}: {exc}") from None
    elif explicit:
        raise ConfigError(f"REACTOR_CONFIG: no configuration file at {file}")
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
    return with_generated_secrets(settings)


def with_generated_secrets(settings: Settings) -> Settings:
    """A missing jwt_secret is generated once and kept in data_dir, so tokens survive restarts
    and every worker of the process group signs with the same key. Not in production: a
    secret there is configured (and kept, rotated, shared across replicas) on purpose."""
    if settings.auth.jwt_secret is not None:
        return settings
    if settings.server.environment == "production":
        raise ConfigError(
            'auth.jwt_secret: required when server.environment is "production" '
            "(a generated secret is for development); set it, e.g. as a vault: reference"
        )
    secret = _generated_secret(settings.server.data_dir / "jwt_secret")
    auth = settings.auth.model_copy(update={"jwt_secret": SecretStr(secret)})
    return settings.model_copy(update={"auth": auth})


def _generated_secret(file: Path) -> str:
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        tmp.chmod(0o600)
        try:
            os.link(tmp, file)  # atomic: of workers starting together, exactly one writes it
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return file.read_text(encoding="utf-8").strip()

"""Typed settings: `Reactor.toml` (or the file named by REACTOR_CONFIG), overridden by
`REACTOR_<SECTION>__<KEY>` environment variables, with `vault:PATH` secret references
resolved before validation. Anything wrong stops start-up with a line naming the key."""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.vault import PREFIX as VAULT_PREFIX
from app.vault import Vault, VaultError
from gateway.config import AISettings

MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """Configuration that cannot be used; str() is one line per problem, each naming its key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    data_dir: Path = Path(".reactor")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    # GraphiQL and introspection help developers; production may switch both off.
    graphiql: bool = True
    introspection: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_query_tokens: int = Field(default=2000, ge=10)
    max_batch_operations: int = Field(default=10, ge=1)
    allowed_origins: list[str] = Field(default_factory=list)
    max_subscriptions_per_connection: int = Field(default=10, ge=1)
    connection_init_timeout: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: str = "INFO"


class DatabaseSettings(Section):
    url: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)


# OWASP's Password Storage Cheat Sheet: argon2id configurations of equal strength, as
# (memory in KiB, iterations); any one of them met with parallelism >= 1 is enough.
OWASP_ARGON2ID = ((47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5))


class AuthSettings(Section):
    jwt_secret: SecretStr | None = None
    access_token_ttl: int = Field(default=3600, ge=30)
    refresh_token_ttl: int = Field(default=2_592_000, ge=60)
    # A spent refresh token presented again within this many seconds (before the token it
    # was exchanged for is used) is exchanged again instead of revoking the session: two
    # tabs refreshing at once. 0 makes every reuse revoke.
    refresh_reuse_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    issuer: str = "reactor-chat"
    audience: str = "authenticated"
    # An outside identity provider whose RS256/ES256 tokens are accepted as well as ours.
    jwks_url: str | None = None
    jwks_issuer: str | None = None
    jwks_audience: str | None = None
    jwks_cache_ttl: int = Field(default=3600, ge=10)
    # An unknown kid refetches the key set at most this often, so junk tokens cannot make us
    # hammer the provider.
    jwks_min_refetch_interval: float = Field(default=30.0, ge=0)
    # Brute force: failed sign-ins allowed per email and per client address in the window.
    sign_in_max_failures: int = Field(default=10, ge=1)
    sign_in_window: int = Field(default=900, ge=1)
    # argon2id cost; the defaults are RFC 9106's low-memory choice, above OWASP's minimum.
    argon2_memory_kib: int = Field(default=65_536, ge=7_168)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)

    @model_validator(mode="after")
    def _strong_secret(self) -> AuthSettings:
        secret = self.jwt_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"jwt_secret must be at least {MIN_SECRET_BYTES} bytes")
        return self

    @model_validator(mode="after")
    def _owasp_argon2(self) -> AuthSettings:
        m, t = self.argon2_memory_kib, self.argon2_time_cost
        if not any(m >= min_m and t >= min_t for min_m, min_t in OWASP_ARGON2ID):
            raise ValueError(
                "argon2_memory_kib/argon2_time_cost are below OWASP's argon2id minimum "
                "(e.g. 19456 KiB with 2 iterations)"
            )
        return self

    @model_validator(mode="after")
    def _complete_jwks(self) -> AuthSettings:
        if self.jwks_url and not (self.jwks_issuer and self.jwks_audience):
            raise ValueError("jwks_url needs jwks_issuer and jwks_audience")
        if self.jwks_url and not _secure_url(self.jwks_url):
            raise ValueError("jwks_url must be https (plain http only on loopback)")
        return self


def _secure_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class ChatSettings(Section):
    system_prompt: str = "You are a helpful assistant."
    history_limit: int = Field(default=50, ge=1, le=1000)
    max_messages_per_hour: int = Field(default=60, ge=1)
    tools: list[str] = Field(default_factory=lambda: ["search_products"])
    max_message_chars: int = Field(default=32_000, ge=1)
    max_tool_rounds: int = Field(default=5, ge=1, le=50)


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
    and every worker of the process group signs with the same key."""
    if settings.auth.jwt_secret is not None:
        return settings
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

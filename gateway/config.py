"""The `[ai]` section of the configuration, validated at start-up.

The app embeds `AISettings` as its `ai` field; vault references are resolved before
validation, so every value here is final.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

# Providers the gateway implements itself; `[ai.providers.NAME]` with one of these names
# only sets that provider's limits.
BUILTIN_PROVIDERS = frozenset({"openrouter", "bedrock", "local"})
LOCAL_TARGET = "local/echo"


def _default_aliases() -> dict[str, list[str]]:
    return {
        "fast": ["openrouter/openai/gpt-4o-mini"],
        "power": [
            "openrouter/anthropic/claude-sonnet-4",
            "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
        ],
    }


class ProviderSettings(BaseModel):
    """`[ai.providers.NAME]`: an OpenAI-compatible endpoint, or limits for a built-in one."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    # An empty key (as Ollama wants) sends no Authorization header.
    api_key: SecretStr | None = None
    # None means unlimited.
    requests_per_minute: int | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, gt=0)


class AISettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    openrouter_api_key: SecretStr | None = None
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    # OpenRouter attribution: sent as `HTTP-Referer` and `X-Title`.
    http_referer: str | None = None
    app_title: str | None = "reactor-chat"

    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_bedrock_region: str = "us-east-1"
    aws_bedrock_endpoint: str | None = None

    default_alias: str = "fast"
    aliases: dict[str, list[str]] = Field(default_factory=_default_aliases)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    # Callers name an alias or one of the targets aliases list; true also accepts any
    # `provider/model` of a configured provider, so any caller can pick any model it sells,
    # the most expensive included.
    allow_any_target: bool = False

    # The most output tokens one call may ask for; a call that names none asks for this
    # many, so no call to a provider is open-ended. Callers asking for more are refused by
    # the surface that admits them; the gateway clamps as a backstop.
    max_output_tokens: int = Field(default=4096, gt=0)

    # Seconds. `chunk_timeout` bounds the silence between two chunks of a stream;
    # `total_timeout` bounds a whole turn, retries and fallbacks included.
    connect_timeout: float = Field(default=5.0, gt=0)
    first_token_timeout: float = Field(default=30.0, gt=0)
    chunk_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float = Field(default=300.0, gt=0)

    # Retries of one target before its first token; then the alias's next target.
    max_retries: int = Field(default=2, ge=0)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    # A `Retry-After` longer than this moves on to the next target instead of waiting.
    max_retry_after: float = Field(default=20.0, ge=0)
    # A target failing this many turns in a row is skipped for `cooldown_seconds`.
    cooldown_failures: int = Field(default=3, gt=0)
    cooldown_seconds: float = Field(default=30.0, ge=0)

    # Pause between the local provider's words, so offline chats look like streams.
    local_delay_ms: int = Field(default=15, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        for alias, targets in self.aliases.items():
            if not targets:
                raise ValueError(f"[ai.aliases] {alias} has no targets")
            for target in targets:
                provider, _, model = target.partition("/")
                if not provider or not model:
                    raise ValueError(
                        f"[ai.aliases] {alias}: target {target!r} is not 'provider/model'"
                    )
        if self.default_alias not in self.aliases:
            raise ValueError(
                f"[ai] default_alias {self.default_alias!r} is not a key of [ai.aliases]"
            )
        for name, entry in self.providers.items():
            if name not in BUILTIN_PROVIDERS and not entry.base_url:
                raise ValueError(f"[ai.providers.{name}] needs a base_url")
        return self

    def openrouter_configured(self) -> bool:
        return bool(self.openrouter_api_key and self.openrouter_api_key.get_secret_value())

    def bedrock_configured(self) -> bool:
        return bool(
            self.aws_access_key_id
            and self.aws_secret_access_key
            and self.aws_access_key_id.get_secret_value()
            and self.aws_secret_access_key.get_secret_value()
        )

    def compatible_providers(self) -> dict[str, ProviderSettings]:
        """The `[ai.providers.NAME]` entries that are endpoints rather than limits."""
        return {
            name: p
            for name, p in self.providers.items()
            if name not in BUILTIN_PROVIDERS and p.base_url
        }

    def any_provider_configured(self) -> bool:
        return (
            self.openrouter_configured()
            or self.bedrock_configured()
            or bool(self.compatible_providers())
        )

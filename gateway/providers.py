"""The providers configured in `[ai]`, and the interface the router drives them through."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

import httpx
from botocore.credentials import Credentials

from gateway.aiohttp_transport import AiohttpTransport
from gateway.bedrock import BedrockProvider
from gateway.config import AISettings
from gateway.events import ProviderEvent
from gateway.limits import ProviderLimits
from gateway.local import LocalProvider
from gateway.openai_compat import OpenAICompatProvider
from gateway.request import ChatRequest


class Provider(Protocol):
    """Yields a turn's events, ending with `Finished`; raises `ProviderError` on failure.
    Closing the iterator closes the upstream connection."""

    name: str

    def stream(self, model: str, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]: ...


def http_timeout(settings: AISettings) -> httpx.Timeout:
    # httpx's read timeout applies to every read of the body, which is the silence
    # allowed between two chunks; first-token and total timeouts are the router's.
    return httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.chunk_timeout,
        write=settings.connect_timeout,
        pool=settings.first_token_timeout,
    )


def create_http_client(settings: AISettings) -> httpx.AsyncClient:
    """The process's pooled client for every provider; the app closes it on shutdown."""
    # httpx's API on aiohttp's pool and parser: a fifth of the CPU per chunk (its module).
    # The pool is the transport's (httpx ignores `limits=` beside a transport).
    limits = httpx.Limits(max_connections=1000)
    return httpx.AsyncClient(
        timeout=http_timeout(settings), transport=AiohttpTransport(limits=limits)
    )


def build_providers(settings: AISettings, http: httpx.AsyncClient) -> dict[str, Provider]:
    """Every provider that is configured; `local` always is."""
    timeout = http_timeout(settings)
    providers: dict[str, Provider] = {"local": LocalProvider(settings.local_delay_ms)}
    if settings.openrouter_api_key and settings.openrouter_configured():
        attribution = {"HTTP-Referer": settings.http_referer, "X-Title": settings.app_title}
        providers["openrouter"] = OpenAICompatProvider(
            "openrouter",
            http,
            settings.openrouter_base_url,
            settings.openrouter_api_key.get_secret_value(),
            timeout,
            {k: v for k, v in attribution.items() if v},
        )
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        if settings.bedrock_configured():
            token = settings.aws_session_token
            credentials = Credentials(
                settings.aws_access_key_id.get_secret_value(),
                settings.aws_secret_access_key.get_secret_value(),
                token.get_secret_value() if token else None,
            )
            providers["bedrock"] = BedrockProvider(
                http,
                settings.aws_bedrock_region,
                settings.aws_bedrock_endpoint,
                credentials,
                timeout,
            )
    for name, entry in settings.compatible_providers().items():
        if entry.base_url is None:
            raise RuntimeError(f"provider {name}: compatible_providers() gave one with no base_url")
        providers[name] = OpenAICompatProvider(
            name,
            http,
            entry.base_url,
            entry.api_key.get_secret_value() if entry.api_key else None,
            timeout,
        )
    return providers


def build_limits(settings: AISettings, names: list[str]) -> dict[str, ProviderLimits]:
    limits = {}
    for name in names:
        entry = settings.providers.get(name)
        limits[name] = ProviderLimits(
            entry.requests_per_minute if entry else None,
            entry.max_concurrency if entry else None,
        )
    return limits

"""`[ai]` settings and what the router makes of them."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from gateway import AISettings, ChatRequest, Gateway, Message, Started, UnknownModel
from gateway.config import ProviderSettings


def test_defaults_follow_the_contract() -> None:
    settings = AISettings()
    assert settings.default_alias == "fast"
    assert settings.openrouter_base_url == "https://openrouter.ai/api/v1"
    assert settings.aliases["power"][1] == "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert not settings.any_provider_configured()


def test_secrets_are_masked_in_repr() -> None:
    settings = AISettings(openrouter_api_key=SecretStr("sk-or-secret"))
    assert "sk-or-secret" not in repr(settings)


def test_default_alias_must_be_an_alias() -> None:
    with pytest.raises(ValidationError, match="default_alias"):
        AISettings(default_alias="nope")


def test_targets_must_be_provider_slash_model() -> None:
    with pytest.raises(ValidationError, match="provider/model"):
        AISettings(aliases={"fast": ["gpt-4o"]})


def test_custom_provider_needs_a_base_url() -> None:
    with pytest.raises(ValidationError, match="base_url"):
        AISettings(providers={"ollama": ProviderSettings()})


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        AISettings.model_validate({"openrouter_key": "x"})


async def test_only_configured_providers_serve_aliases(http: httpx.AsyncClient) -> None:
    settings = AISettings(openrouter_api_key=SecretStr("k"))
    gateway = Gateway(settings, http)
    assert {a.name: a.targets for a in gateway.aliases()} == {
        "fast": ("openrouter/openai/gpt-4o-mini",),
        "power": ("openrouter/anthropic/claude-sonnet-4",),
    }


async def test_resolve_accepts_aliases_and_raw_targets_and_refuses_the_rest(
    http: httpx.AsyncClient,
) -> None:
    settings = AISettings(openrouter_api_key="k", allow_any_target=True)  # type: ignore[arg-type]
    gateway = Gateway(settings, http)
    assert gateway.resolve(None).alias == "fast"
    raw = gateway.resolve("openrouter/meta/llama-3")
    assert (raw.alias, raw.targets[0].name, raw.targets[0].label) == (
        None,
        "openrouter/meta/llama-3",
        "openrouter/other",
    )
    assert gateway.resolve("local/echo").targets[0].provider == "local"
    for unknown in ("gpt-4o", "bedrock/x", "nobody/x", "local/other"):
        with pytest.raises(UnknownModel):
            gateway.resolve(unknown)


async def test_a_resolved_route_is_used_as_is(http: httpx.AsyncClient) -> None:
    gateway = Gateway(AISettings(local_delay_ms=0), http)
    route = gateway.resolve("power")
    # A model the gateway would refuse: the route given is not resolved again.
    request = ChatRequest(messages=[Message("user", "hi")], model="gpt-4o")
    events = [e async for e in gateway.stream(request, route)]
    assert events[0] == Started("local/echo")
    completion = await gateway.complete(request, route)
    assert (completion.target, completion.text) == ("local/echo", "Echo: hi")


async def test_by_default_only_aliases_and_their_targets_are_accepted(
    http: httpx.AsyncClient,
) -> None:
    gateway = Gateway(AISettings(openrouter_api_key=SecretStr("k")), http)
    assert gateway.resolve("power").alias == "power"
    listed = gateway.resolve("openrouter/anthropic/claude-sonnet-4")
    assert (listed.alias, listed.targets[0].name, listed.targets[0].label) == (
        None,
        "openrouter/anthropic/claude-sonnet-4",
        "openrouter/anthropic/claude-sonnet-4",
    )
    # On a configured provider, but listed by no alias: the caller may not pick it.
    for unlisted in ("openrouter/openai/o1-pro", "local/echo", "openrouter/other"):
        with pytest.raises(UnknownModel, match="one of their targets"):
            gateway.resolve(unlisted)


async def test_offline_every_alias_and_local_echo_are_accepted(http: httpx.AsyncClient) -> None:
    gateway = Gateway(AISettings(local_delay_ms=0), http)
    for model in (None, "fast", "power", "local/echo"):
        assert [t.name for t in gateway.resolve(model).targets] == ["local/echo"]
    with pytest.raises(UnknownModel):
        gateway.resolve("openrouter/openai/gpt-4o-mini")
    completion = await gateway.complete(
        ChatRequest(messages=[Message("user", "hi")], model="local/echo")
    )
    assert (completion.target, completion.text) == ("local/echo", "Echo: hi")

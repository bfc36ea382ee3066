"""Writes docs/configuration.md from the settings models: every key, its environment variable,
its default and what it means. Run `python docs/gen_configuration.py` after adding a key;
tests/ops/test_configuration_doc.py fails while a key has no meaning here or the page is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.settings import Settings  # noqa: E402
from gateway.config import ProviderSettings  # noqa: E402

PAGE = ROOT / "docs" / "configuration.md"

MEANINGS: dict[str, str] = {
    "server.data_dir": "Where the embedded PostgreSQL, the generated JWT secret and the "
    "multi-worker metrics files live.",
    "server.host": "Address to listen on (`--host`).",
    "server.port": "Port to listen on (`--port`).",
    "server.workers": "Worker processes (`--workers`); see [deploy](deploy.md).",
    "server.environment": "`development` or `production`. Production serves no GraphiQL and "
    "answers no introspection whatever those keys say (field suggestions are off in both), "
    "and will not start without a configured `auth.jwt_secret`.",
    "server.metrics_token": "When set, `/metrics` answers only requests bearing it "
    "(`Authorization: Bearer …`), 401 otherwise; in any environment.",
    "server.graphiql": "Serve GraphiQL on `GET /graphql` (its assets, vendored, under "
    "`/graphiql/`: it works offline) and allow queries over GET; off in production.",
    "server.introspection": "Answer introspection queries; off in production.",
    "server.max_body_bytes": (
        "Largest request body (larger: 413) and WebSocket message (larger: close 1009)."
    ),
    "server.max_header_bytes": "Largest request head (request line and headers), HTTP or "
    "WebSocket handshake; larger: 431 before the app sees it.",
    "server.max_headers": "Most headers in one request head; more: 431.",
    "server.max_query_cost": "Most selections (fields, fragments) one GraphQL document may "
    "ask for, each fragment counted as often as it is spread, plus the pairs of same-named "
    "fields (or of fragments) side by side that validation compares; measured before any "
    "other validation.",
    "server.max_query_depth": "Deepest selection a GraphQL document may nest, introspection "
    "fields included.",
    "server.max_aliases": "Most aliases in one GraphQL document, counted through its fragments.",
    "server.max_query_tokens": "Most lexical tokens in one GraphQL document.",
    "server.max_batch_operations": "Most operations in one batched HTTP request.",
    "server.allowed_origins": "Other origins whose pages may open a WebSocket (same-origin "
    "pages and non-browser clients always may; `*` allows any).",
    "server.max_subscriptions_per_connection": "Concurrent subscriptions on one WebSocket "
    "(over HTTP each subscription is a request of its own).",
    "server.connection_init_timeout": "Seconds a WebSocket (either subprotocol) has to send "
    "`connection_init`; then it is closed with 4408.",
    "server.shutdown_grace_seconds": "On SIGTERM, how long streaming turns may run on before "
    "they are cancelled with their partial replies saved (an HTTP subscription stream that is "
    "not a turn ends at once).",
    "server.log_format": "`json`, `text`, or `auto` (JSON unless stderr is a terminal).",
    "server.log_probes": "Write access lines for `/healthz` and `/readyz` too (off: an "
    "orchestrator's probes would fill the log).",
    "server.log_level": "`DEBUG`, `INFO`, `WARNING`, `ERROR`.",
    "database.url": "PostgreSQL URL of the login role; absent: an embedded PostgreSQL under "
    "`data_dir`.",
    "broker.url": "`redis://…`: server processes pass live chat turns and conversation events "
    "through Redis Streams; absent: through PostgreSQL's LISTEN/NOTIFY on the database.",
    "database.pool_size": "Connections each worker keeps open.",
    "database.max_overflow": "Connections a worker may open beyond `pool_size` under load.",
    "auth.jwt_secret": "HS256 signing key, at least 32 bytes; absent: generated once into "
    "`data_dir`, except in production, which will not start without it. See [auth](auth.md).",
    "auth.access_token_ttl": "Seconds an access token is valid.",
    "auth.refresh_token_ttl": "Seconds a refresh token (a session) is valid.",
    "auth.refresh_reuse_grace_seconds": "A spent refresh token presented again within this "
    "many seconds, before the token it was exchanged for is used, is answered with that same "
    "token again instead of revoking the session (two tabs refreshing at once); 0 revokes on "
    "every reuse. At most 300.",
    "auth.issuer": "`iss` of the tokens this server signs and accepts.",
    "auth.audience": "`aud` of the tokens this server signs and accepts.",
    "auth.jwks_url": "JWKS of an outside identity provider whose tokens are accepted too.",
    "auth.jwks_issuer": "`iss` the outside provider's tokens must carry.",
    "auth.jwks_audience": "`aud` the outside provider's tokens must carry.",
    "auth.jwks_cache_ttl": "Seconds the outside provider's key set is cached.",
    "auth.jwks_min_refetch_interval": "Least seconds between refetches for an unknown key id.",
    "auth.sign_in_max_failures": "Failed sign-ins allowed per pair of client address and "
    "email within `sign_in_window`; past it that address is refused for that email "
    "(`RATE_LIMITED`), the owner elsewhere is not.",
    "auth.sign_in_window": "Seconds over which failed sign-ins are counted.",
    "auth.sign_in_max_failures_per_address": "Failed sign-ins allowed from one client address "
    "(an IPv6 client: its /64) across all emails within `sign_in_window`; past it the address "
    "is refused for every email.",
    "auth.sign_in_email_slowdown_after": "Failed sign-ins of one email, from any address, "
    "within `sign_in_window` after which each further attempt waits one second more before "
    "its password is checked. An email is never refused for its failures.",
    "auth.sign_in_email_slowdown_max_seconds": "Longest such wait. At most 60.",
    "auth.sign_up_per_address_per_hour": "Sign-up attempts (those that pass input "
    "validation, each a password hash) allowed from one client address (an IPv6 client: its "
    "/64) in any hour; more are refused with `RATE_LIMITED` and `retryAfter`.",
    "auth.argon2_memory_kib": "argon2id memory cost for password hashes.",
    "auth.argon2_time_cost": "argon2id iterations.",
    "auth.argon2_parallelism": "argon2id lanes.",
    "auth.argon2_max_concurrent": "Password hashes one worker process computes at once, on "
    "threads of their own; more sign-ins and sign-ups wait their turn, holding no database "
    "connection. Each takes a core and `argon2_memory_kib` of RAM.",
    "ai.openrouter_api_key": "OpenRouter key; enables `openrouter/…` targets.",
    "ai.openrouter_base_url": "OpenRouter's API root.",
    "ai.http_referer": "Sent to OpenRouter as `HTTP-Referer` (attribution).",
    "ai.app_title": "Sent to OpenRouter as `X-Title` (attribution).",
    "ai.aws_access_key_id": "AWS key id; with the secret it enables `bedrock/…` targets.",
    "ai.aws_secret_access_key": "AWS secret key.",
    "ai.aws_session_token": "AWS session token, for temporary credentials.",
    "ai.aws_bedrock_region": "Bedrock region.",
    "ai.aws_bedrock_endpoint": "Bedrock endpoint override (e.g. a VPC endpoint).",
    "ai.default_alias": "Alias used when a request names no model.",
    "ai.aliases": "Alias → `provider/model` targets tried in order. With no provider "
    "configured every alias routes to `local/echo`.",
    "ai.allow_any_target": "Also accept any `provider/model` of a configured provider as a "
    "model; off, only aliases and the targets they list are accepted, so callers cannot pick "
    "a model the operator does not offer.",
    "ai.providers": "`[ai.providers.NAME]`: further OpenAI-compatible endpoints, or limits for "
    "a built-in provider (keys below).",
    "ai.max_output_tokens": "Most output tokens one call may ask a provider for; `/ai/v1` "
    "refuses more (400) and every call that names none is sent with this many, so none is "
    "open-ended.",
    "ai.connect_timeout": "Seconds to connect to a provider.",
    "ai.first_token_timeout": "Seconds to wait for a provider's first token.",
    "ai.chunk_timeout": "Longest silence between two chunks of a stream.",
    "ai.total_timeout": "Longest a whole turn may take, retries and fallbacks included.",
    "ai.max_retries": "Retries of one target before its first token, then the next target.",
    "ai.backoff_base": "First retry delay in seconds, doubled each retry (with jitter).",
    "ai.backoff_max": "Longest retry delay.",
    "ai.max_retry_after": "A provider's `Retry-After` longer than this moves on to the next "
    "target instead of waiting.",
    "ai.cooldown_failures": "Failed turns in a row after which a target is skipped.",
    "ai.cooldown_seconds": "How long such a target is skipped.",
    "ai.local_delay_ms": "Pause between the `local/echo` provider's words.",
    "ai.providers.NAME.base_url": "The endpoint's OpenAI-compatible API root.",
    "ai.providers.NAME.api_key": "Its bearer key; empty sends none (e.g. Ollama).",
    "ai.providers.NAME.requests_per_minute": "Requests per minute this process sends it.",
    "ai.providers.NAME.max_concurrency": "Concurrent streams this process holds open to it.",
    "chat.system_prompt": "System message that starts every conversation's history.",
    "chat.history_limit": "Newest messages of a conversation the model sees.",
    "chat.max_messages_per_hour": "Chat messages one user may send per rolling hour.",
    "chat.tools": "Tools offered to the model; see [tools](chat.md#tools).",
    "chat.max_message_chars": "Longest message a user may send.",
    "chat.max_tool_rounds": "Most model → tool → model rounds in one turn.",
    "chat.max_turns_in_flight": "Replies one user may have streaming at once, on every surface "
    "(`chat`, `sendMessage`, `/fn/v1/chat`, `/ai/v1`), exact across processes; past it "
    "`RATE_LIMITED`. A turn outlives its client, so this is what keeps one user from starting "
    "hundreds.",
    "chat.checkpoint_interval": "Seconds between saves of a reply while it streams: the most "
    "text a crash can lose.",
    "chat.title_model": 'Model alias that gives a conversation still titled "New conversation" '
    "a short title after its first reply; empty turns automatic titles off.",
    "chat.max_reply_chars": "A reply longer than this is ended and saved `INCOMPLETE` "
    "(finish reason `length`).",
    "chat.turn_lease_seconds": "A process whose heartbeat is this old is taken for dead; "
    "another marks the replies it left streaming `INCOMPLETE` (`interrupted`).",
    "chat.max_buffered_events": "Events a client may fall behind a reply before it is let go "
    "with `RATE_LIMITED` (it can rejoin with `resumeChat`); the turn never waits for it.",
    "vault.dir": "File-backed vault: one file per secret, `<dir>/<path>`.",
    "vault.addr": "HashiCorp Vault address; when set, `vault:` references are read from its "
    "KV v2 engine.",
    "vault.token": "HashiCorp Vault token.",
    "vault.mount": "KV v2 mount.",
}


def _default(value: Any) -> str:
    if value is None:
        return "*(none)*"
    if isinstance(value, SecretStr):
        return "*(secret)*"
    if isinstance(value, Path):
        value = str(value)
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _rows(section: str, model: type[BaseModel], instance: BaseModel) -> list[tuple[str, ...]]:
    rows = []
    for key in model.model_fields:
        name = f"{section}.{key}"
        env = f"REACTOR_{section.upper()}__{key.upper()}"
        rows.append((key, env, _default(getattr(instance, key)), MEANINGS.get(name, "")))
    return rows


def keys() -> list[str]:
    """Every documented key, `section.key` (provider entries as `ai.providers.NAME.key`)."""
    names = [
        f"{section}.{key}"
        for section, field in Settings.model_fields.items()
        for key in type(field.get_default(call_default_factory=True)).model_fields
    ]
    return names + [f"ai.providers.NAME.{key}" for key in ProviderSettings.model_fields]


def render() -> str:
    out = [
        "# Configuration",
        "",
        "<!-- Generated by docs/gen_configuration.py from the settings models; edit there. -->",
        "",
        "Read from `Reactor.toml` in the working directory, or the file named by "
        "`REACTOR_CONFIG`. Every key can be overridden by an environment variable "
        "`REACTOR_<SECTION>__<KEY>`; lists and tables take JSON there "
        '(`REACTOR_AI__ALIASES=\'{"fast": ["local/echo"]}\'`). A string `vault:PATH` is a '
        "secret reference resolved at start-up; one that cannot be resolved stops start-up "
        "with an error naming the key. Anything invalid stops start-up the same way.",
        "",
    ]
    header = ["| key | environment | default | meaning |", "|---|---|---|---|"]
    for section, field in Settings.model_fields.items():
        instance = field.get_default(call_default_factory=True)
        out += [f"## [{section}]", "", *header]
        rows = _rows(section, type(instance), instance)
        out += [f"| `{k}` | `{e}` | {d} | {m} |" for k, e, d, m in rows]
        out.append("")
        if section == "ai":
            out += ["### [ai.providers.NAME]", "", *header]
            for key, field_info in ProviderSettings.model_fields.items():
                env = f"REACTOR_AI__PROVIDERS__NAME__{key.upper()}"
                meaning = MEANINGS.get(f"ai.providers.NAME.{key}", "")
                out.append(f"| `{key}` | `{env}` | {_default(field_info.default)} | {meaning} |")
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE.relative_to(ROOT)}\n")

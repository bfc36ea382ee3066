"""The gateway's Prometheus metrics, in the default registry. Updated once per attempt or
turn, never per delta. The `target` label is a configured target, or `provider/other` for
raw targets callers name, so callers cannot grow the label set."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PROVIDER_REQUESTS = Counter(
    "reactor_gateway_provider_requests",
    "Attempts at a provider target, by outcome (ok, error, interrupted, cancelled, skipped).",
    ["target", "outcome"],
)
RETRIES = Counter(
    "reactor_gateway_retries", "Retries of a target before its first token.", ["target"]
)
FALLBACKS = Counter(
    "reactor_gateway_fallbacks", "Turns that moved on to an alias's next target.", ["alias"]
)
PROVIDER_ERRORS = Counter(
    "reactor_gateway_provider_errors", "Provider failures by kind.", ["provider", "kind"]
)
TIME_TO_FIRST_TOKEN = Histogram(
    "reactor_gateway_time_to_first_token_seconds",
    "From the start of an attempt to its first event.",
    ["target"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
STREAM_DURATION = Histogram(
    "reactor_gateway_stream_duration_seconds",
    "From the start of a turn to its end, retries and fallbacks included.",
    ["target"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
)
TOKENS = Counter("reactor_gateway_tokens", "Tokens reported by providers.", ["target", "direction"])

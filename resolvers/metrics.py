"""Prometheus metrics of the product's logic: chat turns and limits.

Defined once here, updated where the thing happens. Gauges say how to combine across worker
processes (prometheus-client's multiprocess mode), so /metrics is right with --workers N.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

CHAT_TURNS = Counter(
    "reactor_chat_turns_total",
    "Chat turns by outcome: completed, incomplete (client left), upstream_error, rejected.",
    ["outcome"],
)
CHAT_TIME_TO_FIRST_TOKEN = Histogram(
    "reactor_chat_time_to_first_token_seconds",
    "From the user message saved to the first text delta, by provider/model target.",
    ["target"],
    buckets=_LATENCY_BUCKETS,
)
CHAT_TURN_DURATION = Histogram(
    "reactor_chat_turn_duration_seconds",
    "A whole chat turn, tools included, by provider/model target.",
    ["target"],
    buckets=_LATENCY_BUCKETS,
)
CHAT_STREAMING_TURNS = Gauge(
    "reactor_chat_streaming_turns",
    "Chat turns streaming right now.",
    multiprocess_mode="livesum",
)
RATE_LIMIT_REFUSALS = Counter(
    "reactor_rate_limit_refusals_total",
    "Requests refused by a limit: messages (per user per hour), sign_in (brute force),"
    " sign_up (per address per hour).",
    ["limit"],
)

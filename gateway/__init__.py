"""The LLM gateway: model aliases routed to OpenRouter, OpenAI-compatible endpoints, Bedrock
and the offline `local` provider. Knows nothing of GraphQL, of our own HTTP surfaces or of
the database."""

from gateway.attempt import Target
from gateway.config import AISettings, ProviderSettings
from gateway.errors import CompletionFailed, GatewayError, UnknownModel
from gateway.events import (
    Completion,
    ErrorEvent,
    Event,
    Finished,
    Started,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from gateway.providers import create_http_client
from gateway.request import ChatRequest, Message, ToolCall, ToolSpec
from gateway.router import AliasInfo, Gateway, Route

__all__ = [
    "AISettings",
    "AliasInfo",
    "ChatRequest",
    "Completion",
    "CompletionFailed",
    "ErrorEvent",
    "Event",
    "Finished",
    "Gateway",
    "GatewayError",
    "Message",
    "ProviderSettings",
    "Route",
    "Started",
    "Target",
    "TextDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolSpec",
    "UnknownModel",
    "UsageEvent",
    "create_http_client",
]

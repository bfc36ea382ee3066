"""What a chat turn yields, in order: TurnStarted, then TurnDelta / TurnToolCall /
TurnToolResult, then TurnCompleted. The transports (GraphQL, SSE) turn these into their own."""

from __future__ import annotations

from dataclasses import dataclass

from db.records import MessageRow
from gateway.events import UsageEvent


@dataclass(frozen=True, slots=True)
class TurnStarted:
    user_message: MessageRow
    # The provider/model target serving the turn.
    model: str


@dataclass(frozen=True, slots=True)
class TurnDelta:
    text: str


@dataclass(frozen=True, slots=True)
class TurnToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class TurnToolResult:
    id: str
    name: str
    content: str


@dataclass(frozen=True, slots=True)
class TurnCompleted:
    message: MessageRow
    usage: UsageEvent | None


TurnEvent = TurnStarted | TurnDelta | TurnToolCall | TurnToolResult | TurnCompleted

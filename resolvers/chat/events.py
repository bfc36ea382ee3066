"""What a chat turn yields, in order: TurnStarted, then TurnDelta / TurnToolCall /
TurnToolResult, then TurnCompleted. The transports (GraphQL, SSE) turn these into their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db.records import MessageRow


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a turn spent, over all its model calls: the logic layer's one usage type, which
    each edge renders once (GraphQL's Usage, a message's metadata)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> Usage | None:
        """The usage a saved message's metadata records, if any."""
        saved = metadata.get("usage")
        if not isinstance(saved, dict):
            return None
        try:
            return cls(
                int(saved["prompt_tokens"]),
                int(saved["completion_tokens"]),
                int(saved["total_tokens"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class TurnStarted:
    user_message: MessageRow
    # The provider/model target serving the turn.
    model: str
    # The assistant reply the turn writes, `streaming` until it ends.
    reply_id: UUID


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
    usage: Usage | None


TurnEvent = TurnStarted | TurnDelta | TurnToolCall | TurnToolResult | TurnCompleted

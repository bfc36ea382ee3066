"""Plain rows handed up from db/: no SQLAlchemy objects leave this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: UUID
    user_id: UUID
    title: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: UUID
    conversation_id: UUID
    role: str
    content: str
    created_at: datetime
    seq: int
    metadata: dict[str, Any] = field(default_factory=dict)

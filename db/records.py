"""The plain rows db/ hands up and takes in: no SQLAlchemy objects leave this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: UUID
    user_id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    # The end of the branch shown; None while the conversation has no message.
    current_message_id: UUID | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: UUID
    conversation_id: UUID
    role: str
    content: str
    created_at: datetime
    seq: int
    metadata: dict[str, Any] = field(default_factory=dict)
    # complete, streaming (a reply still being written) or incomplete (it ended early).
    status: str = "complete"
    # The message this one follows; None for a conversation's first.
    parent_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class UserRow:
    id: UUID
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    user: UserRow
    # Kept out of repr: a hash has no business in a log line or a traceback.
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProductRow:
    id: UUID
    name: str
    description: str
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class NewProduct:
    name: str
    description: str = ""
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CatalogueChanges:
    """What an import did: products added, changed in place, left as they were, removed."""

    added: int
    updated: int
    unchanged: int
    removed: int


@dataclass(frozen=True, slots=True)
class SearchHitRow:
    """A search match: the message (for a title match, the conversation's newest message),
    its conversation, and the matching passage with its matches between MARK_START and
    MARK_END (db/search.py)."""

    message: MessageRow
    conversation: ConversationRow
    snippet: str
    rank: float
    # The message's id, or for a title match the conversation's: the keyset's tie-breaker.
    hit_id: UUID
    title_match: bool

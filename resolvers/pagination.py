"""Opaque cursors and the page shape every connection field returns."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from resolvers.errors import BadUserInput

T = TypeVar("T")

MAX_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[tuple[str, T]]  # (cursor, item)
    has_next_page: bool
    has_previous_page: bool

    @property
    def start_cursor(self) -> str | None:
        return self.items[0][0] if self.items else None

    @property
    def end_cursor(self) -> str | None:
        return self.items[-1][0] if self.items else None


def page_size(value: int, name: str) -> int:
    if not 1 <= value <= MAX_PAGE:
        raise BadUserInput(f"`{name}` must be between 1 and {MAX_PAGE}.", argument=name)
    return value


def _encode(kind: str, payload: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{payload}".encode()).decode()


def _decode(kind: str, cursor: str, argument: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
    except (ValueError, binascii.Error, UnicodeError):
        raise BadUserInput(
            f"`{argument}` is not a cursor from this API.", argument=argument
        ) from None
    prefix, _, payload = text.partition(":")
    if prefix != kind:
        raise BadUserInput(f"`{argument}` is not a cursor from this API.", argument=argument)
    return payload


def conversation_cursor(updated_at: datetime, id_: uuid.UUID) -> str:
    return _encode("c", f"{updated_at.isoformat()}|{id_}")


def decode_conversation_cursor(cursor: str, argument: str = "after") -> tuple[datetime, uuid.UUID]:
    payload = _decode("c", cursor, argument)
    stamp, _, raw_id = payload.partition("|")
    try:
        return datetime.fromisoformat(stamp), uuid.UUID(raw_id)
    except ValueError:
        raise BadUserInput(
            f"`{argument}` is not a cursor from this API.", argument=argument
        ) from None


def message_cursor(seq: int) -> str:
    return _encode("m", str(seq))


def decode_message_cursor(cursor: str, argument: str = "before") -> int:
    payload = _decode("m", cursor, argument)
    if not payload.isdigit():
        raise BadUserInput(f"`{argument}` is not a cursor from this API.", argument=argument)
    return int(payload)


def search_cursor(rank: float, id_: uuid.UUID) -> str:
    # repr round-trips a float exactly, so the next page starts exactly after this hit.
    return _encode("s", f"{rank!r}|{id_}")


def decode_search_cursor(cursor: str, argument: str = "after") -> tuple[float, uuid.UUID]:
    payload = _decode("s", cursor, argument)
    rank, _, raw_id = payload.partition("|")
    try:
        return float(rank), uuid.UUID(raw_id)
    except ValueError:
        raise BadUserInput(
            f"`{argument}` is not a cursor from this API.", argument=argument
        ) from None

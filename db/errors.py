"""Refusals the database itself decides (in the functions of migration 0007), as exceptions
named for what they mean rather than for a SQLSTATE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.exc import DBAPIError

CONVERSATION_NOT_FOUND = "RX404"
MESSAGE_LIMIT_REACHED = "RL429"
TURNS_IN_FLIGHT = "RT429"
BAD_PARENT = "RX400"
MESSAGE_NOT_FOUND = "RM404"
MESSAGE_ID_TAKEN = "RX409"
_UNIQUE_VIOLATION = "23505"
_MESSAGE_KEY = "messages_pkey"


class ConversationNotFound(Exception):
    """The conversation does not exist, or row-level security hides it from the caller."""


class MessageLimitReached(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"message limit reached; a slot frees in {retry_after} s")
        self.retry_after = retry_after


class TurnsInFlightReached(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"turns in flight at the limit; try again in {retry_after} s")
        self.retry_after = retry_after


class BadParent(Exception):
    """The message a turn should follow is not in its conversation, or not what it must be
    (a regeneration of something other than an assistant reply)."""


class MessageNotFound(Exception):
    """The message does not exist, or row-level security hides it from the caller."""


class MessageIdTaken(Exception):
    """A message id the client chose is held by another message: of another conversation,
    with another text, or of another user (then only the primary key says so)."""


def _sqlstate(exc: DBAPIError | asyncpg.PostgresError) -> tuple[str | None, str | None]:
    # Through SQLAlchemy the driver's error is `orig`; a statement sent on the driver's own
    # connection (db/completion_calls.py) raises it as it is.
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(error, "sqlstate", None), getattr(error, "detail", None)


def _constraint(exc: DBAPIError | asyncpg.PostgresError) -> str | None:
    # The driver's own error (under SQLAlchemy's adapter, its cause) names the constraint.
    error = getattr(exc.orig, "__cause__", None) if isinstance(exc, DBAPIError) else exc
    return getattr(error, "constraint_name", None)


@contextmanager
def refusals() -> Iterator[None]:
    """Turns the functions' refusals into the exceptions above."""
    try:
        yield
    except (DBAPIError, asyncpg.PostgresError) as exc:
        state, detail = _sqlstate(exc)
        if state == CONVERSATION_NOT_FOUND:
            raise ConversationNotFound from None
        if state == MESSAGE_LIMIT_REACHED:
            raise MessageLimitReached(int(detail or 1)) from None
        if state == BAD_PARENT:
            raise BadParent from None
        if state == MESSAGE_NOT_FOUND:
            raise MessageNotFound from None
        if state == TURNS_IN_FLIGHT:
            raise TurnsInFlightReached(int(detail or 1)) from None
        if state == MESSAGE_ID_TAKEN or (
            state == _UNIQUE_VIOLATION and _constraint(exc) == _MESSAGE_KEY
        ):
            raise MessageIdTaken from None
        raise

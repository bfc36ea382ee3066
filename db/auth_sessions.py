"""Queries on sessions and their rotating refresh tokens (auth.sessions, auth.refresh_tokens),
and what a refresh can come to (`Rotated`, or a `Refusal`).

Only SHA-256 digests of refresh tokens are stored: a copy of the table lets no one refresh.
Run inside `service_transaction`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import Interval, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import UserRow
from db.tables import refresh_tokens, sessions, users


class Refusal(enum.Enum):
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    REUSED = "reused"


@dataclass(frozen=True, slots=True)
class Rotated:
    session_id: UUID
    user: UserRow


async def start(conn: AsyncConnection, user_id: UUID, token_hash: bytes, ttl: timedelta) -> UUID:
    """A new session holding its first refresh token; returns the session id."""
    session_id: UUID = (
        await conn.execute(
            insert(sessions)
            .values(user_id=user_id, expires_at=func.now() + ttl)
            .returning(sessions.c.id)
        )
    ).scalar_one()
    await conn.execute(insert(refresh_tokens).values(session_id=session_id, token_hash=token_hash))
    return session_id


async def rotate(
    conn: AsyncConnection,
    token_hash: bytes,
    successor_hash: bytes,
    ttl: timedelta,
    grace: timedelta,
) -> Rotated | Refusal:
    """Spend the token `token_hash` for its successor `successor_hash`, or say why not.

    The caller derives the successor from the token, so every exchange of one token names the
    same successor. A spent token presented again is reuse, and revokes the session as a
    stolen token would, with one exception: within `grace` of its first use, while its
    successor is unused, it is answered with that same successor again, and no new token is
    made. That is two tabs (or a retried request) refreshing with one token at once: the
    session stays one chain, so a copy that goes on being used later is still caught.
    """
    within_grace = refresh_tokens.c.used_at > func.now() - bindparam("grace", grace, type_=Interval)
    found = (
        (
            await conn.execute(
                select(
                    refresh_tokens.c.id,
                    refresh_tokens.c.used_at,
                    within_grace.label("within_grace"),
                    sessions.c.id.label("session_id"),
                    sessions.c.revoked_at,
                    (sessions.c.expires_at <= func.now()).label("expired"),
                    users.c.id.label("user_id"),
                    users.c.email,
                    users.c.created_at,
                )
                .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
                .join(users, users.c.id == sessions.c.user_id)
                .where(refresh_tokens.c.token_hash == token_hash)
                .with_for_update(of=[refresh_tokens, sessions])
            )
        )
        .mappings()
        .one_or_none()
    )
    if found is None:
        return Refusal.UNKNOWN
    if found["revoked_at"] is not None:
        return Refusal.REVOKED
    spent = found["used_at"] is not None
    if spent and not (
        found["within_grace"] and await _successor_unused(conn, found["id"], successor_hash)
    ):
        await revoke(conn, found["session_id"], reason="refresh token reused")
        return Refusal.REUSED
    if found["expired"]:
        return Refusal.EXPIRED
    if not spent:
        await conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.id == found["id"])
            .values(used_at=func.now())
        )
        await conn.execute(
            insert(refresh_tokens).values(
                session_id=found["session_id"], token_hash=successor_hash, parent_id=found["id"]
            )
        )
    # Sliding expiry: a session lives as long as it keeps being refreshed within the ttl.
    await conn.execute(
        update(sessions)
        .where(sessions.c.id == found["session_id"])
        .values(expires_at=func.now() + ttl)
    )
    user = UserRow(id=found["user_id"], email=found["email"], created_at=found["created_at"])
    return Rotated(session_id=found["session_id"], user=user)


async def _successor_unused(conn: AsyncConnection, parent_id: int, successor_hash: bytes) -> bool:
    # A statement after the lock, so it sees a successor committed while this one waited;
    # every rotation in the session holds the session row, so none is under way.
    used = await conn.execute(
        select(refresh_tokens.c.used_at).where(
            refresh_tokens.c.parent_id == parent_id, refresh_tokens.c.token_hash == successor_hash
        )
    )
    row = used.one_or_none()
    return row is not None and row.used_at is None


async def revoke(
    conn: AsyncConnection, session_id: UUID, *, reason: str, user_id: UUID | None = None
) -> bool:
    """End a live session; with `user_id`, only if it is that user's. True when one ended."""
    query = (
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
        .returning(sessions.c.id)
    )
    if user_id is not None:
        query = query.where(sessions.c.user_id == user_id)
    return (await conn.execute(query)).one_or_none() is not None

"""Sign-up, sign-in, refresh, sign-out and `me`: the service as its own identity provider.

Users, sessions and refresh-token digests live in schema `auth`, reached only through
`service_transaction`. Nothing here logs a password, a token or a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from db import auth_sessions, users
from db.auth_sessions import Refusal
from db.records import UserRow
from db.session import service_statement, service_transaction
from resolvers.auth import sign_in_limits, sign_up_limits
from resolvers.auth.passwords import MAX_LENGTH, check_length
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, Conflict, Unauthenticated

log = logging.getLogger("reactor.auth")

TOKEN_TYPE = "bearer"  # noqa: S105 - the OAuth token_type, not a secret
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path
MAX_LOCAL_PART_CHARS = 64
# Deliberately plain: one @, no whitespace, a dot in the domain. Deliverability is for a
# confirmation mail to prove, not for a regular expression.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
WRONG_CREDENTIALS = "Wrong email or password."
BAD_REFRESH = "The refresh token is invalid, expired, revoked or already used."
REFRESH_TOKEN_BYTES = 32  # 256 bits
# Domain separation: the successor key is derived from the JWT secret under its own label,
# so it signs nothing a JWT could be confused with.
SUCCESSOR_KEY_LABEL = b"reactor-chat/refresh-token-successor/v1"


@dataclass(frozen=True)
class IssuedSession:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRow


def normalise_email(raw: str) -> str:
    email = unicodedata.normalize("NFC", raw).strip().lower()
    local, _, _ = email.partition("@")
    if (
        len(email) > MAX_EMAIL_CHARS
        or len(local) > MAX_LOCAL_PART_CHARS
        or not _EMAIL.fullmatch(email)
    ):
        raise BadUserInput("That is not a valid email address.", argument="email")
    return email


def _digest(refresh_token: str) -> bytes:
    # A plain hash suffices: the token is 256 random bits, nothing to guess or precompute.
    return hashlib.sha256(refresh_token.encode()).digest()


def _new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def _successor(secret: str, refresh_token: str) -> str:
    """The token `refresh_token` is exchanged for, the same on every exchange: concurrent
    refreshes with one token all get its one successor, and only digests are stored.

    A keyed hash: without the JWT secret neither a token nor the stored digests tell anyone
    a successor. Same shape as a first token (43 URL-safe characters, 256 bits).
    """
    key = hmac.new(secret.encode(), SUCCESSOR_KEY_LABEL, hashlib.sha256).digest()
    mac = hmac.new(key, refresh_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _issued(
    ctx: RequestContext, user: UserRow, session_id: UUID, refresh_token: str
) -> IssuedSession:
    tokens = ctx.services.tokens
    return IssuedSession(
        access_token=tokens.issue(user.id, user.email, session_id),
        refresh_token=refresh_token,
        expires_in=tokens.ttl,
        user=user,
    )


async def _start(ctx: RequestContext, conn: AsyncConnection, user: UserRow) -> IssuedSession:
    refresh_token = _new_refresh_token()
    ttl = timedelta(seconds=ctx.services.auth.refresh_token_ttl)
    session_id = await auth_sessions.start(conn, user.id, _digest(refresh_token), ttl)
    return _issued(ctx, user, session_id, refresh_token)


async def sign_up(ctx: RequestContext, email: str, password: str) -> IssuedSession:
    email = normalise_email(email)
    check_length(password)
    await sign_up_limits.admit(ctx)
    password_hash = await ctx.services.passwords.hash(password)
    async with service_transaction(ctx.services.engine) as conn:
        user = await users.create(conn, email, password_hash)
        if user is None:
            raise Conflict("An account with this email already exists.", argument="email")
        issued = await _start(ctx, conn, user)
    log.info("user %s signed up", user.id)
    return issued


async def sign_in(ctx: RequestContext, email: str, password: str) -> IssuedSession:
    email = normalise_email(email)
    check_length(password)
    passwords = ctx.services.passwords
    engine = ctx.services.engine
    async with sign_in_limits.attempt(ctx, email) as attempt:
        async with service_transaction(engine) as conn:
            found = await users.credentials(conn, email)
        # An unknown email still costs one full verification: timing tells nothing.
        matches = await passwords.verify(found.password_hash if found else None, password)
        if found is None or not matches:
            log.info("failed sign-in from %s", ctx.client_ip)
            raise Unauthenticated(WRONG_CREDENTIALS)
        attempt.succeeded()
    rehashed = (
        await passwords.hash(password) if passwords.needs_rehash(found.password_hash) else None
    )
    async with service_transaction(engine) as conn:
        if rehashed is not None:
            # The cost parameters were raised since this hash was made.
            await users.set_password_hash(conn, found.user.id, rehashed)
        issued = await _start(ctx, conn, found.user)
    log.info("user %s signed in", found.user.id)
    return issued


async def refresh(ctx: RequestContext, refresh_token: str) -> IssuedSession:
    # Ours are 43 characters; anything far longer is not worth hashing.
    if not refresh_token or len(refresh_token) > MAX_LENGTH:
        raise Unauthenticated(BAD_REFRESH)
    successor = _successor(ctx.services.tokens.secret, refresh_token)
    auth = ctx.services.auth
    ttl = timedelta(seconds=auth.refresh_token_ttl)
    grace = timedelta(seconds=auth.refresh_reuse_grace_seconds)
    async with service_transaction(ctx.services.engine) as conn:
        outcome = await auth_sessions.rotate(
            conn, _digest(refresh_token), _digest(successor), ttl, grace
        )
    if isinstance(outcome, Refusal):
        if outcome is Refusal.REUSED:
            log.warning("a refresh token was used twice: its session is revoked")
        raise Unauthenticated(BAD_REFRESH)
    return _issued(ctx, outcome.user, outcome.session_id, successor)


async def sign_out(ctx: RequestContext) -> bool:
    """Revoke the session of the access token; False when it names none of ours (or was over)."""
    user_id = ctx.user_id()
    sid = (ctx.claims or {}).get("sid")
    if sid is None:
        return False
    async with service_transaction(ctx.services.engine) as conn:
        revoked = await auth_sessions.revoke(
            conn, UUID(str(sid)), reason="signed out", user_id=user_id
        )
    if revoked:
        log.info("user %s signed out", user_id)
    return revoked


async def me(ctx: RequestContext) -> UserRow:
    user_id = ctx.user_id()
    async with service_statement(ctx.services.engine) as conn:
        user = await users.get(conn, user_id)
    if user is not None:
        return user
    claims = ctx.claims or {}
    if claims.get("iss") == ctx.services.tokens.issuer:
        raise Unauthenticated("This account no longer exists.")
    # An outside provider's user has no row here: they are who its token says.
    issued_at = claims.get("iat")
    created = (
        datetime.fromtimestamp(float(issued_at), UTC)
        if isinstance(issued_at, (int, float))
        else datetime.now(UTC)
    )
    email = claims.get("email")
    return UserRow(id=user_id, email=email if isinstance(email, str) else "", created_at=created)

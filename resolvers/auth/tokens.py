"""Access tokens: the JWTs whose claims row-level security reads.

Ours are HS256, signed with `[auth] jwt_secret`, and carry sub, role, email, aud, iss, iat, exp
and sid (the session a refresh token renews). Verification pins the algorithm and requires
exp, sub, aud and iss, so neither `alg: none` nor a token from another issuer or for another
audience gets through. Optionally, RS256/ES256 tokens of an outside provider are accepted
too, checked against its published keys and its own issuer and audience; the algorithm is
the key's, never the token's say, so a public key can never be used as an HMAC secret.

Our own tokens, once verified, are remembered by their exact text until they expire
(`VerifiedTokens`): a client sends the same token on every request until it refreshes, and
checking it (base64, JSON, HMAC, claims) was a tenth of a small query's CPU. Only the exact
text hits, so an edited token is checked afresh; the expiry is checked again on every hit.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt

from resolvers.auth.jwks import ALGORITHMS as EXTERNAL_ALGORITHMS
from resolvers.auth.jwks import KeySet
from resolvers.errors import Unauthenticated

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "sub", "aud", "iss")
INVALID = "The access token is invalid."
# Outside subjects that are not UUIDs (Auth0's `auth0|id`, Clerk's `user_...`) become
# uuid5(EXTERNAL_SUBJECTS, issuer + "\n" + sub): stable, and apart from every other issuer's.
EXTERNAL_SUBJECTS = uuid.UUID("5b0d3c4e-8f1a-5c6e-9a7b-2f4e6d8c0a1b")
MAX_SUBJECT_LENGTH = 255
# Tokens remembered per process: a few hundred bytes each. A token pushed out is verified
# again when it next comes.
VERIFIED_TOKENS = 4096


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when absent."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <access token>'.")
    return token.strip()


@dataclass(frozen=True)
class ExternalIssuer:
    """An outside identity provider (Auth0, Keycloak, Supabase Auth...) whose tokens we accept."""

    keys: KeySet
    issuer: str
    audience: str


class VerifiedTokens:
    """Our own tokens this process verified, by their exact text, with their claims; the
    oldest leaves first when full."""

    def __init__(self, size: int = VERIFIED_TOKENS) -> None:
        self._size = size
        self._claims: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._claims)

    def get(self, token: str) -> dict[str, Any] | None:
        """A copy of the token's claims (callers may change theirs); None when it is not
        remembered. An expired one is forgotten and refused as the decoder would refuse it."""
        claims = self._claims.get(token)
        if claims is None:
            return None
        if claims["exp"] <= time.time():
            del self._claims[token]
            raise Unauthenticated("The access token has expired.")
        return dict(claims)

    def put(self, token: str, claims: dict[str, Any]) -> None:
        if len(self._claims) >= self._size:
            del self._claims[next(iter(self._claims))]
        self._claims[token] = dict(claims)


@dataclass(frozen=True)
class TokenVerifier:
    secret: str
    issuer: str
    audience: str
    ttl: int = 3600
    external: ExternalIssuer | None = None
    verified: VerifiedTokens = field(default_factory=VerifiedTokens, compare=False, repr=False)

    def issue(self, user_id: uuid.UUID, email: str, session_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "role": "authenticated",
            "email": email,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "exp": now + self.ttl,
            "sid": str(session_id),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """One of our own tokens."""
        remembered = self.verified.get(token)
        if remembered is not None:
            return remembered
        claims = _checked(_decode(token, self.secret, ALGORITHM, self.audience, self.issuer))
        sid = claims.get("sid")
        if sid is not None:
            try:
                uuid.UUID(str(sid))
            except ValueError:
                raise Unauthenticated(INVALID) from None
        self.verified.put(token, claims)
        return claims

    async def verify_any(self, token: str) -> dict[str, Any]:
        """Ours, or, when an outside provider is configured, one of its RS256/ES256 tokens."""
        remembered = self.verified.get(token)
        if remembered is not None:
            return remembered
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated(INVALID) from None
        alg = header.get("alg")
        if alg == ALGORITHM:
            return self.verify(token)
        if self.external is None or alg not in EXTERNAL_ALGORITHMS:
            raise Unauthenticated(INVALID)
        kid = header.get("kid")
        key = await self.external.keys.key(kid if isinstance(kid, str) else None)
        if key is None or key.algorithm_name != alg:
            raise Unauthenticated(INVALID)
        claims = _decode(
            token, key.key, key.algorithm_name, self.external.audience, self.external.issuer
        )
        # The provider's session is not one of ours: sign-out and refresh stay with it.
        claims.pop("sid", None)
        return _checked(external_subject(claims, self.external.issuer))


def external_subject(claims: dict[str, Any], issuer: str) -> dict[str, Any]:
    """An outside token's claims with a UUID `sub`, which row-level security stores in uuid
    columns; a subject that is not a UUID is mapped, and kept as `external_sub`."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT_LENGTH:
        raise Unauthenticated(INVALID)
    try:
        uuid.UUID(sub)
    except ValueError:
        mapped = uuid.uuid5(EXTERNAL_SUBJECTS, f"{issuer}\n{sub}")
        return {**claims, "sub": str(mapped), "external_sub": sub}
    return claims


def _decode(token: str, key: Any, algorithm: str, audience: str, issuer: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The access token has expired.") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated(INVALID) from None
    return claims


def _checked(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims with `sub` a canonical UUID (PostgreSQL reads it) and the request role."""
    try:
        sub = uuid.UUID(str(claims.get("sub")))
    except ValueError:
        raise Unauthenticated(INVALID) from None
    if claims.get("role", "authenticated") != "authenticated":
        raise Unauthenticated(INVALID)
    return {**claims, "sub": str(sub), "role": "authenticated"}

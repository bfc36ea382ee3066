"""Access tokens: the JWTs whose claims row-level security reads.

Verification pins the algorithm and requires exp, sub, aud and iss, so neither `alg: none`
nor a token from another issuer or for another audience gets through.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from resolvers.errors import Unauthenticated

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "sub", "aud", "iss")


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None when absent."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <access token>'.")
    return token.strip()


@dataclass(frozen=True)
class TokenVerifier:
    secret: str
    issuer: str
    audience: str

    def verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired.") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("The access token is invalid.") from None
        return _checked(claims)


def _checked(claims: dict[str, Any]) -> dict[str, Any]:
    sub = claims.get("sub")
    try:
        uuid.UUID(str(sub))
    except ValueError:
        raise Unauthenticated("The access token is invalid.") from None
    if claims.get("role", "authenticated") != "authenticated":
        raise Unauthenticated("The access token is invalid.")
    return {**claims, "role": "authenticated"}

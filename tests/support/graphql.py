"""Small helpers to call /graphql the way a client does."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ISSUER = "reactor-chat"
AUDIENCE = "authenticated"


def mint_token(
    user_id: uuid.UUID | str | None = None,
    *,
    secret: str = SECRET,
    ttl: int = 300,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(user_id or uuid.uuid4()),
        "role": "authenticated",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl,
        **claims,
    }
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, secret, algorithm=algorithm
    )


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]

"""A missing, expired, forged, unsigned or mis-addressed token is UNAUTHENTICATED."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import httpx
import jwt
import pytest

from resolvers.auth.tokens import TokenVerifier, VerifiedTokens
from tests.support.graphql import AUDIENCE, ISSUER, SECRET, codes, gql, mint_token

QUERY = "{ conversations { edges { node { id } } } }"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def refused(client: httpx.AsyncClient, token: str | None) -> list[str]:
    body = await gql(client, QUERY, token=token)
    assert body["data"] is None
    return codes(body)


async def test_missing_token_is_unauthenticated(client: httpx.AsyncClient) -> None:
    assert await refused(client, None) == ["UNAUTHENTICATED"]


async def test_expired_token_is_refused(client: httpx.AsyncClient) -> None:
    assert await refused(client, mint_token(ttl=-10)) == ["UNAUTHENTICATED"]


async def test_forged_token_is_refused(client: httpx.AsyncClient) -> None:
    assert await refused(client, mint_token(secret="x" * 40)) == ["UNAUTHENTICATED"]


async def test_alg_none_token_is_refused(client: httpx.AsyncClient) -> None:
    claims = jwt.decode(mint_token(), options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    assert await refused(client, unsigned) == ["UNAUTHENTICATED"]


async def test_payload_edited_after_signing_is_refused(client: httpx.AsyncClient) -> None:
    header, _, signature = mint_token().split(".")
    claims = jwt.decode(mint_token(), options={"verify_signature": False})
    claims["sub"] = str(uuid.uuid4())
    assert await refused(client, f"{header}.{_b64(claims)}.{signature}") == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"sub": "not-a-uuid"},
        {"sub": None},
        {"role": "service_role"},
        # What the processes become for their own bookkeeping: never a request's role.
        {"role": "turn_service"},
    ],
)
async def test_wrong_claims_are_refused(
    client: httpx.AsyncClient, claims: dict[str, object]
) -> None:
    assert await refused(client, mint_token(**claims)) == ["UNAUTHENTICATED"]


async def test_missing_exp_is_refused(client: httpx.AsyncClient) -> None:
    token = jwt.encode(
        {"sub": str(uuid.uuid4()), "aud": "authenticated", "iss": "reactor-chat"},
        SECRET,
        algorithm="HS256",
    )
    assert await refused(client, token) == ["UNAUTHENTICATED"]


async def test_a_malformed_authorization_header_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": "Basic Zm9vOmJhcg=="}
    )
    assert codes(response.json()) == ["UNAUTHENTICATED"]


async def test_garbage_token_is_refused(client: httpx.AsyncClient) -> None:
    assert await refused(client, "a.b.c") == ["UNAUTHENTICATED"]


# Verified tokens are remembered by their text (resolvers/auth/tokens.py): what was accepted
# once must not make anything else accepted, nor outlive its expiry.


async def accepted(client: httpx.AsyncClient, token: str) -> None:
    body = await gql(client, QUERY, token=token)
    assert "errors" not in body
    assert body["data"]["conversations"]["edges"] == []


async def test_an_edited_copy_of_an_accepted_token_is_refused(client: httpx.AsyncClient) -> None:
    token = mint_token()
    await accepted(client, token)
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    for edit in ({"sub": str(uuid.uuid4())}, {"exp": claims["exp"] + 3600}):
        edited = f"{header}.{_b64({**claims, **edit})}.{signature}"
        assert await refused(client, edited) == ["UNAUTHENTICATED"]
    assert await refused(client, f"{header}.{_b64(claims)}.{signature[:-2]}") == ["UNAUTHENTICATED"]
    await accepted(client, token)


async def test_an_accepted_token_is_refused_once_it_expires(client: httpx.AsyncClient) -> None:
    token = mint_token(ttl=1)
    await accepted(client, token)
    await asyncio.sleep(
        max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 0.05
    )
    body = await gql(client, QUERY, token=token)
    assert codes(body) == ["UNAUTHENTICATED"]
    assert "expired" in body["errors"][0]["message"]


def test_remembered_tokens_are_bounded_and_their_claims_are_copies() -> None:
    verifier = TokenVerifier(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, verified=VerifiedTokens(size=3)
    )
    tokens = [mint_token() for _ in range(5)]
    first = [verifier.verify(token) for token in tokens]
    assert len(verifier.verified) == 3
    # Pushed out, then verified afresh: the same claims.
    assert verifier.verify(tokens[0]) == first[0]
    mine = verifier.verify(tokens[-1])
    mine["sub"] = str(uuid.uuid4())
    assert verifier.verify(tokens[-1]) == first[-1]

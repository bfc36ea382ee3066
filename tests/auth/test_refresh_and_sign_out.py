"""refreshSession rotates the refresh token; signOut ends the session the access token names."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.auth.flows import ME, SIGN_OUT, refresh, refused, sign_up
from tests.support.graphql import gql, mint_token


async def test_refreshing_rotates_both_tokens_within_the_session(
    client: httpx.AsyncClient,
) -> None:
    first = await sign_up(client)
    body = await refresh(client, first["refreshToken"])
    assert body.get("errors") is None
    second = body["data"]["refreshSession"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["user"] == first["user"]
    old_claims = jwt.decode(first["accessToken"], options={"verify_signature": False})
    new_claims = jwt.decode(second["accessToken"], options={"verify_signature": False})
    assert new_claims["sid"] == old_claims["sid"]
    me = await gql(client, ME, token=second["accessToken"])
    assert me["data"]["me"]["id"] == first["user"]["id"]
    third = await refresh(client, second["refreshToken"])
    assert third.get("errors") is None


async def test_refresh_tokens_are_opaque_256_bit_and_stored_only_as_a_hash(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = await sign_up(client)
    token = payload["refreshToken"]
    assert token.count(".") == 0
    assert len(token) >= 43  # 32 bytes, base64url
    sid = jwt.decode(payload["accessToken"], options={"verify_signature": False})["sid"]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("select token_hash from auth.refresh_tokens where session_id = :sid"),
                {"sid": sid},
            )
        ).all()
    assert [bytes(r.token_hash) for r in rows] == [hashlib.sha256(token.encode()).digest()]


async def test_sign_out_revokes_the_session(client: httpx.AsyncClient) -> None:
    payload = await sign_up(client)
    body = await gql(client, SIGN_OUT, token=payload["accessToken"])
    assert body == {"data": {"signOut": True}}
    assert refused(await refresh(client, payload["refreshToken"]))
    again = await gql(client, SIGN_OUT, token=payload["accessToken"])
    assert again == {"data": {"signOut": False}}


async def test_sign_out_leaves_the_users_other_sessions(client: httpx.AsyncClient) -> None:
    from tests.auth.flows import sign_in

    first = await sign_up(client)
    other = (await sign_in(client, first["user"]["email"]))["data"]["signIn"]
    await gql(client, SIGN_OUT, token=first["accessToken"])
    assert (await refresh(client, other["refreshToken"])).get("errors") is None


async def test_sign_out_needs_an_access_token(client: httpx.AsyncClient) -> None:
    assert refused(await gql(client, SIGN_OUT))


async def test_sign_out_cannot_end_another_users_session(client: httpx.AsyncClient) -> None:
    victim = await sign_up(client)
    sid = jwt.decode(victim["accessToken"], options={"verify_signature": False})["sid"]
    # Even a validly signed token naming the victim's session under another sub ends nothing.
    body = await gql(client, SIGN_OUT, token=mint_token(uuid.uuid4(), sid=sid))
    assert body == {"data": {"signOut": False}}
    assert (await refresh(client, victim["refreshToken"])).get("errors") is None

"""A refresh token works once, only while its session lives, and only if it is real."""

from __future__ import annotations

import secrets

import httpx
import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.auth.flows import SIGN_OUT, refresh, refused, sign_up
from tests.support.graphql import gql


async def test_a_reused_refresh_token_revokes_its_session(client: httpx.AsyncClient) -> None:
    stolen = await sign_up(client)
    rotated = (await refresh(client, stolen["refreshToken"]))["data"]["refreshSession"]
    # The thief (or the victim) presents the spent token: refused, and the session is over,
    # so the token the other party now holds is worthless too.
    assert refused(await refresh(client, stolen["refreshToken"]))
    assert refused(await refresh(client, rotated["refreshToken"]))


async def test_a_revoked_sessions_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    payload = await sign_up(client)
    await gql(client, SIGN_OUT, token=payload["accessToken"])
    assert refused(await refresh(client, payload["refreshToken"]))


async def test_an_expired_sessions_refresh_token_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = await sign_up(client)
    sid = jwt.decode(payload["accessToken"], options={"verify_signature": False})["sid"]
    async with engine.begin() as conn:
        await conn.execute(
            text("update auth.sessions set expires_at = now() - interval '1 second' where id = :s"),
            {"s": sid},
        )
    assert refused(await refresh(client, payload["refreshToken"]))


async def test_a_made_up_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    assert refused(await refresh(client, secrets.token_urlsafe(32)))
    assert refused(await refresh(client, ""))
    assert refused(await refresh(client, "x" * 100_000))


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    payload = await sign_up(client)
    assert refused(await refresh(client, payload["accessToken"]))

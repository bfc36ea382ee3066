"""A refresh token works once, only while its session lives, and only if it is real."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import httpx
import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.settings import Settings
from tests.auth.flows import SIGN_OUT, refresh, refused, sign_up
from tests.support.graphql import gql
from tests.support.server import ServerThread


async def _age_spent_tokens(engine: AsyncEngine, access_token: str, seconds: int) -> None:
    """Move the session's spent tokens' first use `seconds` into the past."""
    sid = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "update auth.refresh_tokens set used_at = used_at - make_interval(secs => :s)"
                " where session_id = :sid and used_at is not null"
            ),
            {"s": seconds, "sid": sid},
        )


async def test_a_reused_refresh_token_revokes_its_session(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    stolen = await sign_up(client)
    rotated = (await refresh(client, stolen["refreshToken"]))["data"]["refreshSession"]
    # Past the grace interval for concurrent refreshes (10 s by default).
    await _age_spent_tokens(engine, stolen["accessToken"], 11)
    # The thief (or the victim) presents the spent token: refused, and the session is over,
    # so the token the other party now holds is worthless too.
    assert refused(await refresh(client, stolen["refreshToken"]))
    assert refused(await refresh(client, rotated["refreshToken"]))


async def test_concurrent_refreshes_with_one_token_both_get_a_session(
    client: httpx.AsyncClient,
) -> None:
    """Two tabs refreshing at once must not sign the user out."""
    payload = await sign_up(client)
    bodies = await asyncio.gather(*(refresh(client, payload["refreshToken"]) for _ in range(2)))
    issued = [body["data"]["refreshSession"] for body in bodies]
    assert all(body.get("errors") is None for body in bodies)
    # One successor for both: the session does not fork into two chains.
    assert issued[0]["refreshToken"] == issued[1]["refreshToken"]
    sids = {
        jwt.decode(i["accessToken"], options={"verify_signature": False})["sid"] for i in issued
    }
    assert len(sids) == 1
    # Each tab carries on with the token it holds.
    for tab in issued:
        assert (await refresh(client, tab["refreshToken"])).get("errors") is None


async def test_ten_concurrent_refreshes_with_one_token_get_one_successor(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await sign_up(client)
    bodies = await asyncio.gather(*(refresh(client, first["refreshToken"]) for _ in range(10)))
    assert [body.get("errors") for body in bodies] == [None] * 10
    successors = {body["data"]["refreshSession"]["refreshToken"] for body in bodies}
    assert len(successors) == 1
    (successor,) = successors
    # The session holds two tokens, as digests only: the first and its one successor.
    sid = jwt.decode(first["accessToken"], options={"verify_signature": False})["sid"]
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("select token_hash from auth.refresh_tokens where session_id = :sid"),
                {"sid": sid},
            )
        ).scalars()
        digests = {bytes(digest) for digest in stored}
    assert digests == {
        hashlib.sha256(t.encode()).digest() for t in (first["refreshToken"], successor)
    }
    # Once the successor is used, the first token is reuse: the session ends.
    third = (await refresh(client, successor))["data"]["refreshSession"]
    assert refused(await refresh(client, first["refreshToken"]))
    assert refused(await refresh(client, third["refreshToken"]))


async def test_reuse_within_the_grace_interval_revokes_once_the_session_moved_on(
    client: httpx.AsyncClient,
) -> None:
    """A stolen token replayed seconds after the victim's refresh, once the victim has used
    the token it got, is reuse: the grace is for concurrent refreshes only."""
    stolen = await sign_up(client)
    second = (await refresh(client, stolen["refreshToken"]))["data"]["refreshSession"]
    third = (await refresh(client, second["refreshToken"]))["data"]["refreshSession"]
    assert refused(await refresh(client, stolen["refreshToken"]))
    assert refused(await refresh(client, third["refreshToken"]))


async def test_a_zero_grace_interval_makes_every_reuse_revoke(settings: Settings) -> None:
    strict = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"refresh_reuse_grace_seconds": 0})}
    )
    with ServerThread(create_app(strict)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            payload = await sign_up(client)
            rotated = (await refresh(client, payload["refreshToken"]))["data"]["refreshSession"]
            assert refused(await refresh(client, payload["refreshToken"]))
            assert refused(await refresh(client, rotated["refreshToken"]))
            # Concurrent refreshes too: one is served, the rest revoke the session.
            again = await sign_up(client)
            bodies = await asyncio.gather(
                *(refresh(client, again["refreshToken"]) for _ in range(3))
            )
            served = [b["data"]["refreshSession"] for b in bodies if b.get("errors") is None]
            assert len(served) == 1
            assert sum(refused(b) for b in bodies) == 2
            assert refused(await refresh(client, served[0]["refreshToken"]))


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

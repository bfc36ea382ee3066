"""signIn and me: the right password opens a session; wrong credentials say nothing more."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from resolvers.auth.passwords import Passwords
from tests.auth.flows import ME, PASSWORD, new_email, refused, sign_in, sign_up
from tests.support.graphql import gql


async def test_sign_in_opens_a_new_session(own_client: httpx.AsyncClient) -> None:
    email = new_email()
    first = await sign_up(own_client, email)
    body = await sign_in(own_client, email)
    assert body.get("errors") is None
    payload = body["data"]["signIn"]
    assert payload["user"] == first["user"]
    assert payload["refreshToken"] != first["refreshToken"]
    me = await gql(own_client, ME, token=payload["accessToken"])
    assert me["data"]["me"] == first["user"]


async def test_sign_in_normalises_the_email(own_client: httpx.AsyncClient) -> None:
    email = new_email()
    await sign_up(own_client, email)
    body = await sign_in(own_client, f"  {email.upper()}  ")
    assert body["data"]["signIn"]["user"]["email"] == email


async def test_wrong_password_and_unknown_email_get_one_generic_answer(
    own_client: httpx.AsyncClient,
) -> None:
    email = new_email()
    await sign_up(own_client, email)
    wrong_password = await sign_in(own_client, email, "not the password")
    unknown_email = await sign_in(own_client, new_email())
    assert refused(wrong_password)
    assert refused(unknown_email)
    assert wrong_password["errors"][0]["message"] == unknown_email["errors"][0]["message"]


async def test_me_without_a_token_is_unauthenticated(client: httpx.AsyncClient) -> None:
    assert refused(await gql(client, ME))


async def test_me_for_a_deleted_account_is_unauthenticated(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = await sign_up(client)
    async with engine.begin() as conn:
        await conn.execute(
            text("delete from auth.users where id = :id"), {"id": payload["user"]["id"]}
        )
    assert refused(await gql(client, ME, token=payload["accessToken"]))


async def test_a_hash_of_an_older_cost_is_redone_at_sign_in(
    own_client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    email = new_email()
    payload = await sign_up(own_client, email)
    weaker = await Passwords(memory_kib=19_456, time_cost=2, parallelism=1).hash(PASSWORD)
    query = text("update auth.users set password_hash = :h where id = :id")
    async with engine.begin() as conn:
        await conn.execute(query, {"h": weaker, "id": payload["user"]["id"]})
    assert (await sign_in(own_client, email)).get("errors") is None
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("select password_hash from auth.users where id = :id"),
                {"id": payload["user"]["id"]},
            )
        ).scalar_one()
    assert stored.startswith(f"$argon2id$v=19$m={settings.auth.argon2_memory_kib},")

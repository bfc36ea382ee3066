"""signUp: normalised, validated emails; bounded passwords; argon2id hashes; one account per email."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from tests.auth.flows import PASSWORD, SIGN_UP, new_email, sign_up
from tests.support.graphql import AUDIENCE, ISSUER, SECRET, codes, gql


async def test_sign_up_returns_a_session_for_the_new_user(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    email = new_email()
    payload = await sign_up(client, email)
    assert payload["tokenType"] == "bearer"
    assert payload["expiresIn"] == settings.auth.access_token_ttl
    assert payload["user"]["email"] == email
    claims = jwt.decode(
        payload["accessToken"], SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["sub"] == payload["user"]["id"]
    assert claims["role"] == "authenticated"
    assert claims["email"] == email
    assert claims["exp"] - claims["iat"] == settings.auth.access_token_ttl
    assert abs(claims["iat"] - time.time()) < 60
    uuid.UUID(claims["sid"])
    assert jwt.get_unverified_header(payload["accessToken"])["alg"] == "HS256"


async def test_emails_are_normalised(client: httpx.AsyncClient) -> None:
    local = f"Mixed.Case-{uuid.uuid4().hex}"
    payload = await sign_up(client, f"  {local}@Example.COM \n")
    assert payload["user"]["email"] == f"{local.lower()}@example.com"


async def test_a_taken_email_is_a_conflict_whatever_its_case(client: httpx.AsyncClient) -> None:
    email = new_email()
    await sign_up(client, email)
    body = await gql(client, SIGN_UP, {"email": f" {email.upper()}", "password": PASSWORD})
    assert codes(body) == ["CONFLICT"]


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "no-at-sign",
        "two@@example.com",
        "a@b",
        "a b@example.com",
        "@example.com",
        f"{'x' * 65}@example.com",
        f"a@{'x' * 250}.com",
    ],
)
async def test_an_invalid_email_is_bad_user_input(client: httpx.AsyncClient, email: str) -> None:
    body = await gql(client, SIGN_UP, {"email": email, "password": PASSWORD})
    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("password", ["", "x" * 7, "y" * 1025])
async def test_a_password_outside_8_to_1024_characters_is_bad_user_input(
    client: httpx.AsyncClient, password: str
) -> None:
    body = await gql(client, SIGN_UP, {"email": new_email(), "password": password})
    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("length", [8, 1024])
async def test_passwords_of_8_and_1024_characters_are_accepted(
    client: httpx.AsyncClient, length: int
) -> None:
    await sign_up(client, new_email(), "p" * length)


async def test_the_password_is_stored_as_an_argon2id_hash_only(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    payload = await sign_up(client)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("select password_hash from auth.users where id = :id"),
                {"id": payload["user"]["id"]},
            )
        ).scalar_one()
    auth = settings.auth
    assert stored.startswith(
        f"$argon2id$v=19$m={auth.argon2_memory_kib},t={auth.argon2_time_cost},"
        f"p={auth.argon2_parallelism}$"
    )
    assert PASSWORD not in stored

"""The auth mutations as a client sends them, and clients with an address of their own."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx

from tests.support.graphql import codes, gql

PASSWORD = "correct horse battery staple"

PAYLOAD = "accessToken refreshToken expiresIn tokenType user { id email createdAt }"
SIGN_UP = f"mutation($email: String!, $password: String!) {{ signUp(email: $email, password: $password) {{ {PAYLOAD} }} }}"
SIGN_IN = f"mutation($email: String!, $password: String!) {{ signIn(email: $email, password: $password) {{ {PAYLOAD} }} }}"
REFRESH = f"mutation($token: String!) {{ refreshSession(refreshToken: $token) {{ {PAYLOAD} }} }}"
SIGN_OUT = "mutation { signOut }"
ME = "{ me { id email createdAt } }"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex}@example.com"


def fresh_address() -> str:
    """A loopback address of its own, so the per-address sign-in limit of one test (or of the
    whole suite, all on 127.0.0.1) never touches another's."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"


def client_from(base_url: str, address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address or fresh_address())
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)


async def sign_up(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    body = await gql(client, SIGN_UP, {"email": email or new_email(), "password": password})
    assert body.get("errors") is None, body
    payload: dict[str, Any] = body["data"]["signUp"]
    return payload


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    return await gql(client, SIGN_IN, {"email": email, "password": password})


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    return await gql(client, REFRESH, {"token": refresh_token})


def refused(body: dict[str, Any]) -> bool:
    return body.get("data") is None and codes(body) == ["UNAUTHENTICATED"]

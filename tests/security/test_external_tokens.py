"""Tokens of an outside identity provider (`[auth] jwks_url`): RS256/ES256, checked against
its published keys and its own issuer and audience; nothing else it might be tricked into."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.asgi import create_app
from app.jwks_fetch import jwks_fetcher
from app.settings import Settings, load_settings
from resolvers.auth.jwks import KeySet
from resolvers.auth.tokens import EXTERNAL_SUBJECTS
from tests.support.graphql import AUDIENCE, ISSUER, SECRET, codes, gql, mint_token
from tests.support.server import ServerThread

IDP_ISSUER = "https://idp.example/"
IDP_AUDIENCE = "reactor-api"
QUERY = "{ conversations { edges { node { id } } } }"


class IdentityProvider:
    """A provider's JWKS endpoint on loopback, whose keys a test may rotate."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[dict[str, Any]] = []
        self.fetches = 0
        self.thread = ServerThread(Starlette(routes=[Route("/jwks.json", self._jwks)]))

    async def _jwks(self, request: Request) -> JSONResponse:
        self.fetches += 1
        return JSONResponse({"keys": self.published})

    @property
    def url(self) -> str:
        return f"{self.thread.url}/jwks.json"

    def add_rsa(self, kid: str, *, publish: bool = True) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        if publish:
            self.published.append(
                {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}
            )

    def add_ec(self, kid: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = key
        self.published.append(
            {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256"}
        )

    def public_pem(self, kid: str) -> bytes:
        return bytes(
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, kid: str, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "sub": str(uuid.uuid4()),
            "aud": IDP_AUDIENCE,
            "iss": IDP_ISSUER,
            "iat": now,
            "exp": now + 300,
            "email": "someone@idp.example",
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.keys[kid], algorithm=algorithm, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """HS256 by hand: PyJWT itself refuses to use a public key as an HMAC secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    idp = IdentityProvider()
    idp.add_rsa("rsa-1")
    idp.add_ec("ec-1")
    idp.thread.start()
    yield idp
    idp.thread.stop()


@pytest.fixture(scope="module")
def federated(
    provider: IdentityProvider, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """The app configured to accept the provider's tokens as well as its own."""
    config = Path(tmp_path_factory.mktemp("federated")) / "Reactor.toml"
    config.write_text("", encoding="utf-8")
    assert settings.database.url is not None
    configured = load_settings(
        config,
        server={"data_dir": str(settings.server.data_dir)},
        database={"url": settings.database.url.get_secret_value(), "pool_size": 2},
        auth={
            "jwt_secret": SECRET,
            "jwks_url": provider.url,
            "jwks_issuer": IDP_ISSUER,
            "jwks_audience": IDP_AUDIENCE,
            "jwks_min_refetch_interval": 0,
        },
        ai={"local_delay_ms": 0},
    )
    with ServerThread(create_app(configured)) as thread:
        yield thread


@pytest.fixture
async def fed(federated: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=federated.url, timeout=30) as http:
        yield http


async def _accepted(client: httpx.AsyncClient, token: str) -> bool:
    body = await gql(client, QUERY, token=token)
    if body.get("errors"):
        assert codes(body) == ["UNAUTHENTICATED"], body
        return False
    return True


@pytest.mark.parametrize(("kid", "algorithm"), [("rsa-1", "RS256"), ("ec-1", "ES256")])
async def test_a_providers_token_is_accepted_and_scopes_rls_to_its_subject(
    fed: httpx.AsyncClient, provider: IdentityProvider, kid: str, algorithm: str
) -> None:
    user = uuid.uuid4()
    token = provider.token(kid, algorithm, sub=str(user))
    created = await gql(fed, 'mutation { createConversation(title: "x") { id } }', token=token)
    assert created.get("errors") is None, created
    me = await gql(fed, "{ me { id email } }", token=token)
    assert me["data"]["me"] == {"id": str(user), "email": "someone@idp.example"}
    other = provider.token(kid, algorithm)
    listed = await gql(fed, QUERY, token=other)
    assert listed["data"]["conversations"]["edges"] == []


async def test_a_subject_that_is_not_a_uuid_maps_to_one_stable_user_of_its_own(
    fed: httpx.AsyncClient, provider: IdentityProvider
) -> None:
    """Auth0 (`auth0|id`), Clerk (`user_...`) and others: each subject is one user, the same
    one on every token, and row-level security keeps it apart from every other."""
    subject = f"auth0|{uuid.uuid4().hex[:24]}"
    first = provider.token("rsa-1", sub=subject)
    created = await gql(fed, 'mutation { createConversation(title: "x") { id } }', token=first)
    assert created.get("errors") is None, created
    expected = str(uuid.uuid5(EXTERNAL_SUBJECTS, f"{IDP_ISSUER}\n{subject}"))
    again = provider.token("rsa-1", sub=subject, jti=uuid.uuid4().hex)
    me = await gql(fed, "{ me { id } }", token=again)
    assert me["data"]["me"]["id"] == expected
    mine = await gql(fed, QUERY, token=again)
    assert [e["node"] for e in mine["data"]["conversations"]["edges"]] == [
        created["data"]["createConversation"]
    ]
    # A subject differing in one character, or the mapped UUID presented as a subject by
    # another provider's token, is someone else.
    for other in (provider.token("rsa-1", sub=subject + "x"), mint_token(uuid.uuid4())):
        listed = await gql(fed, QUERY, token=other)
        assert listed["data"]["conversations"]["edges"] == []


async def test_our_own_tokens_still_work_beside_the_provider(fed: httpx.AsyncClient) -> None:
    assert await _accepted(fed, mint_token())


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": AUDIENCE},
        {"iss": ISSUER},
        {"aud": "someone-else"},
        {"iss": "https://evil.example/"},
        {"exp": int(time.time()) - 10},
        {"exp": None},
        {"sub": "x" * 256},
        {"role": "service_role"},
    ],
)
async def test_a_providers_token_with_wrong_claims_is_refused(
    fed: httpx.AsyncClient, provider: IdentityProvider, claims: dict[str, Any]
) -> None:
    assert not await _accepted(fed, provider.token("rsa-1", **claims))


async def test_rs256_hs256_confusion_with_the_public_key_as_secret_is_refused(
    fed: httpx.AsyncClient, provider: IdentityProvider
) -> None:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "iat": now, "exp": now + 300}
    pem = provider.public_pem("rsa-1")
    for iss, aud in ((IDP_ISSUER, IDP_AUDIENCE), (ISSUER, AUDIENCE)):
        forged = _hs256_with(
            pem, {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, {**claims, "iss": iss, "aud": aud}
        )
        assert not await _accepted(fed, forged)


async def test_an_es256_key_cannot_verify_a_token_claiming_rs256(
    fed: httpx.AsyncClient, provider: IdentityProvider
) -> None:
    token = provider.token("rsa-1")
    header, payload, signature = token.split(".")
    relabelled = json.loads(base64.urlsafe_b64decode(header + "=="))
    relabelled["kid"] = "ec-1"
    assert not await _accepted(
        fed, f"{_b64(json.dumps(relabelled).encode())}.{payload}.{signature}"
    )


async def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(
    fed: httpx.AsyncClient, provider: IdentityProvider
) -> None:
    provider.add_rsa("rogue", publish=False)
    assert not await _accepted(fed, provider.token("rogue"))
    # The same rogue key under a published kid fails the signature check.
    forged = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "aud": IDP_AUDIENCE,
            "iss": IDP_ISSUER,
            "exp": int(time.time()) + 60,
        },
        provider.keys["rogue"],
        algorithm="RS256",
        headers={"kid": "rsa-1"},
    )
    assert not await _accepted(fed, forged)


async def test_an_unknown_kid_fetches_the_key_set_again(
    fed: httpx.AsyncClient, provider: IdentityProvider
) -> None:
    assert await _accepted(fed, provider.token("rsa-1"))  # keys are cached by now
    before = provider.fetches
    provider.add_rsa("rsa-2")  # the provider rotates
    assert await _accepted(fed, provider.token("rsa-2"))
    assert provider.fetches == before + 1
    assert await _accepted(fed, provider.token("rsa-2"))
    assert provider.fetches == before + 1


async def test_unknown_kids_refetch_at_most_once_per_interval(provider: IdentityProvider) -> None:
    async with httpx.AsyncClient() as http:
        keys = KeySet(jwks_fetcher(http, provider.url), cache_ttl=3600, min_refetch_interval=3600)
        before = provider.fetches
        assert await keys.key("rsa-1") is not None
        for _ in range(5):
            assert await keys.key(f"made-up-{uuid.uuid4()}") is None
    assert provider.fetches == before + 1


async def test_rs256_tokens_are_refused_without_a_configured_provider(
    client: httpx.AsyncClient, provider: IdentityProvider
) -> None:
    token = provider.token("rsa-1", aud=AUDIENCE, iss=ISSUER)
    assert codes(await gql(client, QUERY, token=token)) == ["UNAUTHENTICATED"]

"""The `[auth]` section: tokens, sessions, the brute-force limit, password hashing and an
optional outside identity provider. Read by the auth resolvers; the app only assembles it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from resolvers.auth.passwords import DEFAULT_MAX_CONCURRENT

MIN_SECRET_BYTES = 32

# OWASP's Password Storage Cheat Sheet: argon2id configurations of equal strength, as
# (memory in KiB, iterations); any one of them met with parallelism >= 1 is enough.
OWASP_ARGON2ID = ((47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5))


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwt_secret: SecretStr | None = None
    access_token_ttl: int = Field(default=3600, ge=30)
    refresh_token_ttl: int = Field(default=2_592_000, ge=60)
    # A spent refresh token presented again within this many seconds (before the token it
    # was exchanged for is used) gets that same token again instead of revoking the session:
    # two tabs refreshing at once. 0 makes every reuse revoke.
    refresh_reuse_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    issuer: str = "reactor-chat"
    audience: str = "authenticated"
    # An outside identity provider whose RS256/ES256 tokens are accepted as well as ours.
    jwks_url: str | None = None
    jwks_issuer: str | None = None
    jwks_audience: str | None = None
    jwks_cache_ttl: int = Field(default=3600, ge=10)
    # An unknown kid refetches the key set at most this often, so junk tokens cannot make us
    # hammer the provider.
    jwks_min_refetch_interval: float = Field(default=30.0, ge=0)
    # Brute force (resolvers/auth/sign_in_limits.py), all within sign_in_window: failures
    # allowed per (client address, email) pair, then per address across emails; and the
    # failures of an email (from anywhere) after which its sign-ins are slowed, never refused.
    sign_in_max_failures: int = Field(default=10, ge=1)
    sign_in_window: int = Field(default=900, ge=1)
    sign_in_max_failures_per_address: int = Field(default=50, ge=1)
    sign_in_email_slowdown_after: int = Field(default=10, ge=0)
    sign_in_email_slowdown_max_seconds: float = Field(default=10.0, ge=0, le=60)
    # Sign-up attempts (each a password hash) allowed from one client address in an hour.
    sign_up_per_address_per_hour: int = Field(default=10, ge=1)
    # argon2id cost; the defaults are RFC 9106's low-memory choice, above OWASP's minimum.
    argon2_memory_kib: int = Field(default=65_536, ge=7_168)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    # Hashes computed at once by one worker process; more wait their turn. Each takes a core
    # and argon2_memory_kib of RAM, so workers x this should leave the event loops a core.
    argon2_max_concurrent: int = Field(default=DEFAULT_MAX_CONCURRENT, ge=1, le=64)

    @model_validator(mode="after")
    def _strong_secret(self) -> AuthSettings:
        secret = self.jwt_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"jwt_secret must be at least {MIN_SECRET_BYTES} bytes")
        return self

    @model_validator(mode="after")
    def _owasp_argon2(self) -> AuthSettings:
        m, t = self.argon2_memory_kib, self.argon2_time_cost
        if not any(m >= min_m and t >= min_t for min_m, min_t in OWASP_ARGON2ID):
            raise ValueError(
                "argon2_memory_kib/argon2_time_cost are below OWASP's argon2id minimum "
                "(e.g. 19456 KiB with 2 iterations)"
            )
        return self

    @model_validator(mode="after")
    def _complete_jwks(self) -> AuthSettings:
        if self.jwks_url and not (self.jwks_issuer and self.jwks_audience):
            raise ValueError("jwks_url needs jwks_issuer and jwks_audience")
        if self.jwks_url and not _secure_url(self.jwks_url):
            raise ValueError("jwks_url must be https (plain http only on loopback)")
        return self


def _secure_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False

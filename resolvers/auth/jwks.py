"""An outside identity provider's signing keys (its JWKS), fetched and cached.

Keys are fetched by an injected `fetch` (the app's HTTP client does the I/O: see
app/jwks_fetch.py), kept for `cache_ttl`, and fetched again when a
token names a key id we do not hold (the provider rotated its keys), but not more often than
`min_refetch_interval`, so a stream of tokens with made-up key ids cannot flood the provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

log = logging.getLogger("reactor.auth")

ALGORITHMS = frozenset({"RS256", "ES256"})

# Returns the provider's JWKS document; raises JwksUnavailable when it cannot.
Fetch = Callable[[], Awaitable[Any]]


class JwksUnavailable(Exception):
    """The JWKS could not be fetched; the message names no secret."""


def _usable(jwks: Any) -> dict[str, PyJWK]:
    keys: dict[str, PyJWK] = {}
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(entry)
        except PyJWKError:
            continue  # a key type or curve we do not accept
        if key.algorithm_name in ALGORITHMS:
            keys[str(entry.get("kid", ""))] = key
    return keys


class KeySet:
    def __init__(self, fetch: Fetch, cache_ttl: float, min_refetch_interval: float) -> None:
        self._fetch = fetch
        self._cache_ttl = cache_ttl
        self._min_interval = min_refetch_interval
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> PyJWK | None:
        """The key for `kid` (or the only key, when the token names none); None if unknown."""
        if time.monotonic() - self._fetched_at > self._cache_ttl:
            await self._refresh()
        found = self._lookup(kid)
        if found is None:
            await self._refresh()
            found = self._lookup(kid)
        return found

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            # Another request may have refreshed while we waited for the lock.
            if now - self._attempted_at < self._min_interval:
                return
            self._attempted_at = now
            try:
                keys = _usable(await self._fetch())
            except JwksUnavailable as exc:
                # Keep the keys we had: a provider outage should not sign everyone out.
                log.warning("cannot fetch the JWKS: %s", exc)
                return
            self._keys, self._fetched_at = keys, now

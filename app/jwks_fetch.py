"""Fetching an outside identity provider's JWKS over the app's pooled HTTP client."""

from __future__ import annotations

from typing import Any

import httpx

from resolvers.auth.jwks import Fetch, JwksUnavailable


def jwks_fetcher(http: httpx.AsyncClient, url: str) -> Fetch:
    async def fetch() -> Any:
        try:
            response = await http.get(url, timeout=10.0)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise JwksUnavailable(f"{url}: {type(exc).__name__}") from None

    return fetch

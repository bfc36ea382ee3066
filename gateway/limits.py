"""Per-provider limits: requests per minute (aiolimiter) and concurrent streams."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter


class ProviderLimits:
    """A slot is taken before a request and held until its stream ends."""

    def __init__(self, requests_per_minute: int | None, max_concurrency: int | None) -> None:
        self._rate = AsyncLimiter(requests_per_minute, 60) if requests_per_minute else None
        self._streams = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.limited = self._rate is not None or self._streams is not None

    def has_capacity(self) -> bool:
        """Whether a slot is free now, so the router can prefer another target over waiting."""
        if self._streams is not None and self._streams.locked():
            return False
        return self._rate is None or bool(self._rate.has_capacity())

    async def acquire(self) -> None:
        if self._rate is not None:
            await self._rate.acquire()
        if self._streams is not None:
            await self._streams.acquire()

    def release(self) -> None:
        if self._streams is not None:
            self._streams.release()

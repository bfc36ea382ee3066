"""The smallest Strawberry app that streams like a chat turn, for bench/stack_floor_bench.py:
`chat(n)` yields `n` one-field events, 20 a second, each stamped with the wall-clock time it
was made. Served by uvicorn as `uvicorn bench.floor_app:app`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import strawberry
from strawberry.asgi import GraphQL

TOKENS_PER_SECOND = 20


@strawberry.type
class TextDelta:
    text: str


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def chat(self, n: int) -> AsyncGenerator[TextDelta, None]:
        start = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / TOKENS_PER_SECOND - time.monotonic()))
            yield TextDelta(text=f"{time.time_ns()} ")


app = GraphQL(strawberry.Schema(Query, subscription=Subscription))

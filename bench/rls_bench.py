"""Row-level security, before and after the index-friendly policies (migration 0003).

Loads 100k messages in 20k conversations of 1,000 users into a scratch database at revision
0002 (the seed's policies), times the API's conversations page as one user and prints its
plan; then migrates to 0003 and does the same. Figures go to bench/results/rls.json.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.migrations import upgrade
from db import conversations
from db.engine import create_engine
from db.session import rls_transaction
from tests.support.database import create_database, drop_database, server_url

USERS = 1_000
CONVERSATIONS_PER_USER = 20
MESSAGES_PER_CONVERSATION = 5
QUERIES = 300
RESULTS = Path(__file__).parent / "results" / "rls.json"

PAGE_SQL = """
select id, title, updated_at from conversations
order by updated_at desc, id desc limit 21
"""


async def _load(engine: AsyncEngine) -> uuid.UUID:
    async with engine.begin() as conn:
        await conn.execute(
            text("""
            insert into conversations (id, user_id, title, created_at, updated_at)
            select gen_random_uuid(), u.id, 'c' || c, now() - (c || ' minutes')::interval,
                   now() - (c || ' minutes')::interval
            from (select gen_random_uuid() as id from generate_series(1, :users)) u,
                 generate_series(1, :per_user) c
            """),
            {"users": USERS, "per_user": CONVERSATIONS_PER_USER},
        )
        await conn.execute(
            text("""
            insert into messages (conversation_id, role, content)
            select c.id, 'user', 'message ' || m from conversations c, generate_series(1, :per) m
            """),
            {"per": MESSAGES_PER_CONVERSATION},
        )
        await conn.execute(text("analyze"))
        user = (await conn.execute(text("select user_id from conversations limit 1"))).scalar_one()
    return uuid.UUID(str(user))


async def _measure(engine: AsyncEngine, user: uuid.UUID) -> dict[str, Any]:
    claims = {"sub": str(user), "role": "authenticated"}
    async with rls_transaction(engine, claims) as conn:
        plan_rows = await conn.execute(text("explain (analyze, costs off, timing off) " + PAGE_SQL))
        plan = "\n".join(r[0] for r in plan_rows)
    timings = []
    for _ in range(QUERIES):
        start = time.perf_counter()
        async with rls_transaction(engine, claims) as conn:
            rows = await conversations.page(conn, first=20, after=None)
        timings.append(time.perf_counter() - start)
    assert len(rows) == 20
    p50 = statistics.median(timings)
    return {"p50_ms": round(p50 * 1000, 3), "queries_per_s": round(1 / p50), "plan": plan}


async def _run(url: str) -> dict[str, Any]:
    engine = create_engine(url, pool_size=2)
    try:
        user = await _load(engine)
        before = await _measure(engine, user)
        await engine.dispose()
        await asyncio.to_thread(upgrade, url, "0003")
        after = await _measure(engine, user)
    finally:
        await engine.dispose()
    return {"before": before, "after": after}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = server_url(Path(tmp))
        url = create_database(server)
        try:
            upgrade(url, "0002")
            figures = asyncio.run(_run(url))
        finally:
            drop_database(server, url)
    figures["dataset"] = {
        "users": USERS,
        "conversations": USERS * CONVERSATIONS_PER_USER,
        "messages": USERS * CONVERSATIONS_PER_USER * MESSAGES_PER_CONVERSATION,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    before, after = figures["before"], figures["after"]
    print("conversations page as one user (20 rows), 100k messages")
    print(f"{'policies':<26}{'p50 ms':>10}{'queries/s':>12}")
    print(f"{'seed (0002)':<26}{before['p50_ms']:>10}{before['queries_per_s']:>12}")
    print(f"{'index-friendly (0003)':<26}{after['p50_ms']:>10}{after['queries_per_s']:>12}")
    print(f"speed-up: {before['p50_ms'] / after['p50_ms']:.1f}x")


if __name__ == "__main__":
    main()

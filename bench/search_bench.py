"""Search over 100,000 messages of one user (migration 0010).

Loads 500 conversations of 200 messages each for one user (words drawn from 5,000, a few
common and most rare, as in real text) plus another user's 10,000, then times the API's
search (20 hits, as the caller, through the same RLS transaction the API uses) for rare and
common words, a phrase, an exclusion and OR. Prints the plans of the message match and of
the conversations page; figures go to bench/results/search.json.
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
from db import search
from db.engine import create_engine
from db.session import rls_transaction
from tests.support.database import create_database, drop_database, server_url

CONVERSATIONS = 500
PER_CONVERSATION = 200
OTHER_MESSAGES = 10_000
ROUNDS = 40
RESULTS = Path(__file__).parent / "results" / "search.json"

# w0 is in about a third of the messages, w4000 in a handful.
QUERIES = ["w4000", "w1200", "w0", '"w3 w7"', "w5 -w0", "w4500 OR w4501", "w9 w12"]

_LOAD = """
insert into messages (conversation_id, role, content)
select c.id, case when g % 2 = 0 then 'user' else 'assistant' end,
       array_to_string(array(
         select 'w' || floor(power(random(), 3) * 5000)::int
         from generate_series(1, 8 + (g % 12)) w where g > 0
       ), ' ')
from conversations c, generate_series(1, :per) g
where c.user_id = :user
"""

_MATCH_PLAN = """
explain (analyze, costs off, timing off)
select s.message_id, ts_rank(s.document, q)::double precision as rank
from message_search s, websearch_to_tsquery('simple', :q) q
where s.document @@ q
  and s.conversation_id in (
    select c.id from conversations c where c.user_id = (select request_user_id())
  )
order by rank desc, s.message_id desc limit 21
"""

_PAGE_PLAN = """
explain (analyze, costs off, timing off)
select id from conversations where archived = false order by updated_at desc, id desc limit 21
"""


async def _load(engine: AsyncEngine) -> uuid.UUID:
    user, other = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        for owner, count in ((user, CONVERSATIONS), (other, OTHER_MESSAGES // PER_CONVERSATION)):
            await conn.execute(
                text(
                    "insert into conversations (user_id, title) select :u, 'topic w' || g"
                    " from generate_series(1, :n) g"
                ),
                {"u": owner, "n": count},
            )
            await conn.execute(text(_LOAD), {"per": PER_CONVERSATION, "user": owner})
    # As autovacuum would have by then: the trigger that bumps updated_at leaves dead rows.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("vacuum analyze"))
    return user


async def _explain(conn: Any, sql: str, params: dict[str, Any] | None = None) -> str:
    rows = await conn.execute(text(sql), params or {})
    return "\n".join(r[0] for r in rows)


async def _run(url: str) -> dict[str, Any]:
    engine = create_engine(url, pool_size=2)
    try:
        user = await _load(engine)
        claims = {"sub": str(user), "role": "authenticated"}
        # The match as search_messages() runs it: as the owner, with the caller's claims.
        async with engine.begin() as conn:
            await conn.execute(
                text("select set_config('request.jwt.claims', :c, true)"),
                {"c": json.dumps(claims)},
            )
            match_plan = await _explain(conn, _MATCH_PLAN, {"q": "w4000"})
        async with rls_transaction(engine, claims) as conn:
            page_plan = await _explain(conn, _PAGE_PLAN)
        per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
        hits: dict[str, int] = {}
        for _ in range(ROUNDS):
            for q in QUERIES:
                start = time.perf_counter()
                async with rls_transaction(engine, claims) as conn:
                    found = await search.search(conn, q, first=20, after=None)
                per_query[q].append(time.perf_counter() - start)
                hits[q] = len(found)
    finally:
        await engine.dispose()
    everything = sorted(t for ts in per_query.values() for t in ts)
    return {
        "p50_ms": round(statistics.median(everything) * 1000, 2),
        "p99_ms": round(everything[int(len(everything) * 0.99) - 1] * 1000, 2),
        "per_query_p50_ms": {
            q: round(statistics.median(ts) * 1000, 2) for q, ts in per_query.items()
        },
        "hits_on_first_page": hits,
        "match_plan": match_plan,
        "conversations_page_plan": page_plan,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = server_url(Path(tmp))
        url = create_database(server)
        try:
            upgrade(url)
            started = time.perf_counter()
            figures = asyncio.run(_run(url))
            figures["seconds"] = round(time.perf_counter() - started, 1)
        finally:
            drop_database(server, url)
    figures["dataset"] = {
        "messages_of_the_user": CONVERSATIONS * PER_CONVERSATION,
        "messages_of_another_user": OTHER_MESSAGES,
        "queries": QUERIES,
        "rounds": ROUNDS,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print("search, 100k messages of one user, 20 hits")
    print(f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
    for q, ms in figures["per_query_p50_ms"].items():
        print(f"  {q:<18}{ms:>8} ms p50")
    print(figures["match_plan"])
    print(figures["conversations_page_plan"])


if __name__ == "__main__":
    main()

"""Full-text search over the caller's messages and conversation titles (migration 0010).

Messages are matched through `search_messages()`, whose side table has the GIN index that
row-level security keeps `messages` from using; titles on `conversations` itself. Every row
returned is read again from `messages` and `conversations` under the caller's RLS.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import ConversationRow, MessageRow, SearchHitRow

# ts_headline's StartSel/StopSel: private-use characters, removed from the text before the
# headline is made, so any found in a snippet are ours.
MARK_START = "\ue000"
MARK_END = "\ue001"
# ts_headline drops what its parser takes for HTML tags and entities: <, > and & go through it
# as these (also removed from the text first) and come back as the characters they stand for.
STAND_INS = {"<": "\ue002", ">": "\ue003", "&": "\ue004"}
_PRIVATE = MARK_START + MARK_END + "".join(STAND_INS.values())

_HEADLINE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12"

_SEARCH = text("""
with q as materialized (select websearch_to_tsquery('simple', :query) as q),
titles as materialized (
  select c.id, ts_rank(to_tsvector('simple', c.title), q.q)::double precision as rank
  from q, conversations c
  where to_tsvector('simple', c.title) @@ q.q
),
hits as (
  select s.message_id as hit_id, s.message_id, s.rank, false as title_match
  from q, search_messages(q.q, :max_hits, :after_rank, :after_id) s
  union all
  -- A title hit shows the conversation's newest message; one with none is no hit.
  select t.id, newest.id, t.rank, true
  from titles t
  cross join lateral (
    select m.id from messages m where m.conversation_id = t.id order by m.seq desc limit 1
  ) newest
),
page as materialized (
  select * from hits
  where (cast(:after_id as uuid) is null
         or (rank, hit_id) < (cast(:after_rank as double precision), cast(:after_id as uuid)))
  order by rank desc, hit_id desc
  limit :max_hits
)
select page.hit_id, page.rank, page.title_match,
       m.id as m_id, m.conversation_id as m_conversation_id, m.role as m_role,
       m.content as m_content, m.created_at as m_created_at, m.seq as m_seq,
       m.metadata as m_metadata, m.status as m_status,
       c.id as c_id, c.user_id as c_user_id, c.title as c_title,
       c.created_at as c_created_at, c.updated_at as c_updated_at, c.archived as c_archived,
       ts_headline(
         'simple',
         translate(
           translate(case when page.title_match then c.title else m.content end, :private, ''),
           :plain, :stand_ins
         ),
         q.q,
         :options
       ) as snippet
from page
-- One key lookup per hit (offset 0 keeps each a subquery of its own, where the planner
-- would otherwise guess at the page's size and may read every message to hash them).
cross join lateral (select * from messages where id = page.message_id offset 0) m
cross join lateral (select * from conversations where id = m.conversation_id offset 0) c
cross join q
order by page.rank desc, page.hit_id desc
""")


def _message(row: dict[str, object]) -> MessageRow:
    return MessageRow(**{k[2:]: v for k, v in row.items() if k.startswith("m_")})  # type: ignore[arg-type]


def _conversation(row: dict[str, object]) -> ConversationRow:
    return ConversationRow(**{k[2:]: v for k, v in row.items() if k.startswith("c_")})  # type: ignore[arg-type]


async def search(
    conn: AsyncConnection, query: str, *, first: int, after: tuple[float, UUID] | None
) -> list[SearchHitRow]:
    """Best first, keyset on (rank, hit id); up to first + 1 hits, the extra one only telling
    the caller there is a next page. `query` is websearch syntax: words, "a phrase", -word, OR.
    """
    after_rank, after_id = after if after is not None else (None, None)
    result = await conn.execute(
        _SEARCH,
        {
            "query": query,
            "max_hits": first + 1,
            "after_rank": after_rank,
            "after_id": after_id,
            "private": _PRIVATE,
            "plain": "".join(STAND_INS),
            "stand_ins": "".join(STAND_INS.values()),
            "options": _HEADLINE_OPTIONS,
        },
    )
    hits = []
    for mapping in result.mappings():
        row = dict(mapping)
        hits.append(
            SearchHitRow(
                message=_message(row),
                conversation=_conversation(row),
                snippet=str(row["snippet"]),
                rank=float(row["rank"]),
                hit_id=row["hit_id"],
                title_match=bool(row["title_match"]),
            )
        )
    return hits

"""Search over the caller's messages and conversation titles, best matches first."""

from __future__ import annotations

import html
from dataclasses import replace

from db import search as search_queries
from db.records import SearchHitRow
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput
from resolvers.pagination import Page, decode_search_cursor, page_size, search_cursor

MAX_QUERY_CHARS = 500


def snippet_html(marked: str) -> str:
    """ts_headline's passage, HTML-escaped, its matches wrapped in <mark></mark>."""
    for plain, stand_in in search_queries.STAND_INS.items():
        marked = marked.replace(stand_in, plain)
    escaped = html.escape(marked, quote=True)
    return escaped.replace(search_queries.MARK_START, "<mark>").replace(
        search_queries.MARK_END, "</mark>"
    )


async def search(
    ctx: RequestContext, query: str, first: int, after: str | None
) -> Page[SearchHitRow]:
    ctx.user_id()
    cleaned = " ".join(query.split())
    if not cleaned:
        raise BadUserInput("A search needs words to look for.", argument="query")
    if len(cleaned) > MAX_QUERY_CHARS:
        raise BadUserInput(f"A search has at most {MAX_QUERY_CHARS} characters.", argument="query")
    size = page_size(first, "first")
    key = decode_search_cursor(after) if after else None
    async with ctx.db() as conn:
        hits = await search_queries.search(conn, cleaned, first=size, after=key)
    items = [
        (search_cursor(h.rank, h.hit_id), replace(h, snippet=snippet_html(h.snippet)))
        for h in hits[:size]
    ]
    # Forward paging: a page after a cursor has hits before it.
    return Page(items=items, has_next_page=len(hits) > size, has_previous_page=key is not None)

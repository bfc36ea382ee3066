"""Queries on the product catalogue: searched under the caller's RLS, loaded by the login role."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import NewProduct, ProductRow
from db.tables import products


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE with the text's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(conn: AsyncConnection, query: str, limit: int) -> list[ProductRow]:
    """Products whose name or description contains `query`, case-insensitively, names A-Z."""
    pattern = like_pattern(query)
    result = await conn.execute(
        select(products.c.id, products.c.name, products.c.description, products.c.price)
        .where(
            or_(
                products.c.name.ilike(pattern, escape="\\"),
                products.c.description.ilike(pattern, escape="\\"),
            )
        )
        .order_by(products.c.name, products.c.id)
        .limit(limit)
    )
    return [ProductRow(**row) for row in result.mappings()]


async def add_many(conn: AsyncConnection, items: Sequence[NewProduct]) -> int:
    if not items:
        return 0
    await conn.execute(
        insert(products),
        [{"name": p.name, "description": p.description, "price": p.price} for p in items],
    )
    return len(items)

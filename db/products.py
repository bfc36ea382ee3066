"""Queries on the product catalogue: searched under the caller's RLS, loaded by the login role."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ARRAY, Text, all_, bindparam, delete, insert, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection

from db.records import CatalogueChanges, NewProduct, ProductRow
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


# Rows per INSERT: three parameters each, well under PostgreSQL's 32,767 per statement.
_BATCH = 1000


async def upsert_many(
    conn: AsyncConnection, items: Sequence[NewProduct], *, replace: bool = False
) -> CatalogueChanges:
    """Add or update each product by name (names must be distinct); with `replace`, also
    remove every product whose name is not among them."""
    added = updated = 0
    for start in range(0, len(items), _BATCH):
        rows = pg_insert(products).values(
            [
                {"name": p.name, "description": p.description, "price": p.price}
                for p in items[start : start + _BATCH]
            ]
        )
        new = rows.excluded
        # A row that would not change is not written (and not returned): a second import of
        # the same file writes nothing.
        written: Result[tuple[bool]] = await conn.execute(
            rows.on_conflict_do_update(
                index_elements=[products.c.name],
                set_={"description": new.description, "price": new.price},
                where=or_(
                    products.c.description.is_distinct_from(new.description),
                    products.c.price.is_distinct_from(new.price),
                ),
            ).returning(literal_column("xmax = 0").label("inserted"))  # xmax 0: a new row
        )
        for inserted in written.scalars():
            added += bool(inserted)
            updated += not inserted
    removed = 0
    if replace:
        # One array parameter, however long the catalogue.
        names = bindparam("names", [p.name for p in items], type_=ARRAY(Text))
        gone = await conn.execute(
            delete(products).where(products.c.name != all_(names)).returning(products.c.id)
        )
        removed = len(gone.all())
    return CatalogueChanges(added, updated, len(items) - added - updated, removed)


async def add_many(conn: AsyncConnection, items: Sequence[NewProduct]) -> int:
    if not items:
        return 0
    await conn.execute(
        insert(products),
        [{"name": p.name, "description": p.description, "price": p.price} for p in items],
    )
    return len(items)

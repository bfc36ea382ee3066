"""`search_products(query)`: the catalogue's products whose name or description contains the
query, case-insensitively; `%` and `_` in the query are plain characters."""

from __future__ import annotations

from typing import Any

from db import products
from gateway.request import ToolSpec
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput

MAX_QUERY_CHARS = 200
MAX_RESULTS = 10


class SearchProducts:
    spec = ToolSpec(
        name="search_products",
        description=(
            "Search the product catalogue by name or description. Returns up to "
            f"{MAX_RESULTS} matching products with their name, description and price."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Words to look for, e.g. 'kettle'."}
            },
            "required": ["query"],
        },
    )

    async def run(self, ctx: RequestContext, arguments: dict[str, Any]) -> Any:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise BadUserInput("`query` must be a non-empty string.")
        query = query.strip()
        if len(query) > MAX_QUERY_CHARS or "\x00" in query:
            raise BadUserInput(f"`query` has at most {MAX_QUERY_CHARS} characters.")
        async with ctx.db() as conn:
            found = await products.search(conn, query, MAX_RESULTS)
        return {
            "products": [
                {
                    "name": p.name,
                    "description": p.description,
                    "price": float(p.price) if p.price is not None else None,
                }
                for p in found
            ]
        }


TOOL = SearchProducts()

"""Loading a product catalogue from a file: a JSON array of objects or a CSV with a header.

`name` is required and is the product's key: loading a name that exists updates that
product, so importing a file twice leaves one of each; a name may appear once per file.
`description` and `price` are optional. Every row is checked before any is written, a bad one
is reported with its line, and the load is one transaction: all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from db import products
from db.records import CatalogueChanges, NewProduct
from db.session import service_transaction

MAX_NAME_CHARS = 500
MAX_PRICE = Decimal("9999999999.99")


class CatalogueError(Exception):
    """A file that cannot be loaded; the message names the line."""


def _product(item: Mapping[str, Any], line: int) -> NewProduct:
    unknown = set(item) - {"name", "description", "price"}
    if unknown:
        raise CatalogueError(f"line {line}: unknown field(s) {', '.join(sorted(unknown))}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CatalogueError(f"line {line}: `name` is required")
    if len(name.strip()) > MAX_NAME_CHARS:
        raise CatalogueError(f"line {line}: `name` has at most {MAX_NAME_CHARS} characters")
    description = item.get("description") or ""
    if not isinstance(description, str):
        raise CatalogueError(f"line {line}: `description` must be text")
    if "\x00" in name or "\x00" in description:
        raise CatalogueError(f"line {line}: NUL characters are not allowed")
    raw_price = item.get("price")
    price: Decimal | None = None
    if raw_price not in (None, ""):
        if isinstance(raw_price, bool) or not isinstance(raw_price, (str, int, float)):
            raise CatalogueError(f"line {line}: `price` must be a number")
        try:
            price = Decimal(str(raw_price).strip())
        except InvalidOperation:
            raise CatalogueError(f"line {line}: `price` must be a number") from None
        if not price.is_finite() or price < 0 or price > MAX_PRICE:
            raise CatalogueError(f"line {line}: `price` must be between 0 and {MAX_PRICE}")
        price = price.quantize(Decimal("0.01"))
    return NewProduct(name.strip(), description.strip(), price)


def _json_items(text: str) -> Iterator[tuple[int, Any]]:
    """Each element of a top-level JSON array with the line it starts on."""
    decoder = json.JSONDecoder()
    position = len(text) - len(text.lstrip())
    if not text.startswith("[", position):
        raise CatalogueError("line 1: a JSON catalogue is an array of objects")
    position += 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        line = text.count("\n", 0, position) + 1
        if position >= len(text):
            raise CatalogueError(f"line {line}: the array is not closed")
        if text[position] == "]":
            return
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"line {exc.lineno}: {exc.msg}") from None
        yield line, item


def _csv_items(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "name" not in reader.fieldnames:
        raise CatalogueError("line 1: the header must have a `name` column")
    for row in reader:
        if None in row:
            raise CatalogueError(f"line {reader.line_num}: more values than header columns")
        yield reader.line_num, row


def parse(text: str, fmt: str) -> list[NewProduct]:
    """The products of a catalogue in `fmt` ("json" or "csv"), each name once."""
    found = []
    lines: dict[str, int] = {}  # name -> the line it was first seen on
    for line, item in _json_items(text) if fmt == "json" else _csv_items(text):
        if not isinstance(item, dict):
            raise CatalogueError(f"line {line}: each product is a JSON object")
        product = _product(item, line)
        first = lines.setdefault(product.name, line)
        if first != line:
            raise CatalogueError(f"line {line}: `name` repeats the product of line {first}")
        found.append(product)
    return found


def read(path: Path) -> list[NewProduct]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"cannot read {path}: {exc}") from None
    fmt = "json" if path.suffix.lower() == ".json" or text.lstrip().startswith("[") else "csv"
    return parse(text, fmt)


async def load(
    engine: AsyncEngine, items: list[NewProduct], *, replace: bool = False
) -> CatalogueChanges:
    """Add or update every product by name in one transaction, as the login role (requests
    may only read); with `replace`, products not in `items` are removed in the same one."""
    async with service_transaction(engine) as conn:
        return await products.upsert_many(conn, items, replace=replace)

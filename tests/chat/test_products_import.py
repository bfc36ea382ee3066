"""`reactor-chat products import FILE`: JSON or CSV, all rows or none, bad lines named."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.catalogue import CatalogueError, parse

ROOT = Path(__file__).resolve().parents[2]


async def _import(file: Path, database_url: str, tmp_path: Path) -> tuple[int, str]:
    config = tmp_path / "Reactor.toml"
    config.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "REACTOR_CONFIG": str(config),
        "REACTOR_DATABASE__URL": database_url,
        "REACTOR_SERVER__DATA_DIR": str(tmp_path / "data"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "products",
        "import",
        str(file),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def _count(engine: AsyncEngine, like: str) -> int:
    async with engine.connect() as conn:
        # The login role owns products, and RLS is forced on it: read as a signed-in user would.
        await conn.execute(text("set local role authenticated"))
        found = await conn.execute(
            text("select count(*) from products where name like :p"), {"p": like}
        )
        return int(found.scalar_one())


async def test_the_sample_catalogue_loads(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    code, out = await _import(ROOT / "docs" / "sample-products.json", database_url, tmp_path)
    assert code == 0, out
    assert "loaded 11 products" in out
    assert await _count(engine, "Stainless steel kettle") >= 1


async def test_a_bad_csv_row_is_reported_by_line_and_nothing_loads(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    file = tmp_path / "catalogue.csv"
    file.write_text(
        f'name,description,price\n{tag} one,first,1.50\n{tag} two,"second, with comma",2\n,nameless,3\n',
        encoding="utf-8",
    )
    code, out = await _import(file, database_url, tmp_path)
    assert code == 1
    assert "line 4: `name` is required" in out
    assert await _count(engine, f"{tag}%") == 0
    file.write_text(f"name,price\n{tag} one,1.50\n{tag} two,\n", encoding="utf-8")
    code, out = await _import(file, database_url, tmp_path)
    assert code == 0, out
    assert await _count(engine, f"{tag}%") == 2


@pytest.mark.parametrize(
    ("document", "line"),
    [
        ('[\n  {"name": "a"},\n  {"name": "b", "price": "cheap"}\n]', 3),
        ('[\n  {"name": "a"},\n\n  {"description": "no name"}\n]', 4),
        ('[\n  {"name": "a"},\n  {"name": "b",,}\n]', 3),
        ('[\n  {"name": "a", "colour": "red"}\n]', 2),
        ('[\n  "just a string"\n]', 2),
    ],
)
def test_a_bad_json_item_is_reported_by_line(document: str, line: int) -> None:
    with pytest.raises(CatalogueError, match=f"^line {line}:"):
        parse(document, "json")


def test_prices_are_kept_exactly() -> None:
    (product,) = parse('[{"name": "x", "price": 19.99}]', "json")
    assert str(product.price) == "19.99"

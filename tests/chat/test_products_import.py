"""`reactor-chat products import FILE [--replace]`: JSON or CSV, all rows or none, bad lines
named; a product's name is its key, so a second import updates rather than adds; one line out.

The command runs as a real subprocess against a database of this module's own (`--replace`
empties a catalogue, which the session's shared database must not see)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.migrations import upgrade
from db.engine import create_engine
from resolvers.catalogue import CatalogueError, parse
from tests.support.database import create_database, drop_database, server_url

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "sample-products.json"


@pytest.fixture(scope="module")
def catalogue_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = server_url(tmp_path_factory.mktemp("catalogue"))
    url = create_database(server)
    upgrade(url)
    yield url
    drop_database(server, url)


@pytest.fixture
async def catalogue(catalogue_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(catalogue_url, pool_size=1)
    yield eng
    await eng.dispose()


async def _run(
    file: Path, database_url: str | None, tmp_path: Path, *args: str
) -> tuple[int, str, str]:
    """The CLI's exit code, stdout and stderr; with no `database_url`, on the embedded one."""
    config = tmp_path / "Reactor.toml"
    config.write_text("", encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if k != "REACTOR_DATABASE__URL"},
        "REACTOR_CONFIG": str(config),
        "REACTOR_SERVER__DATA_DIR": str(tmp_path / "data"),
    }
    if database_url is not None:
        env["REACTOR_DATABASE__URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "products",
        "import",
        *args,
        str(file),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def _import(file: Path, database_url: str, tmp_path: Path) -> tuple[int, str]:
    code, out, err = await _run(file, database_url, tmp_path)
    return code, out + err


async def _count(engine: AsyncEngine, like: str) -> int:
    async with engine.connect() as conn:
        # The login role owns products, and RLS is forced on it: read as a signed-in user would.
        await conn.execute(text("set local role authenticated"))
        found = await conn.execute(
            text("select count(*) from products where name like :p"), {"p": like}
        )
        return int(found.scalar_one())


async def _names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        await conn.execute(text("set local role authenticated"))
        return list((await conn.execute(text("select name from products order by name"))).scalars())


async def test_importing_twice_keeps_each_product_once_and_says_so_in_one_line(
    catalogue_url: str, catalogue: AsyncEngine, tmp_path: Path
) -> None:
    sample = [item["name"] for item in json.loads(SAMPLE.read_text(encoding="utf-8"))]
    code, out, err = await _run(SAMPLE, catalogue_url, tmp_path, "--replace")
    assert (code, err) == (0, ""), err
    assert out.count("\n") == 1, out
    assert await _names(catalogue) == sorted(sample)

    code, out, err = await _run(SAMPLE, catalogue_url, tmp_path)
    assert (code, err) == (0, ""), err
    assert (
        out == f"reactor-chat: {SAMPLE}: 0 added, 0 updated, {len(sample)} unchanged, 0 removed\n"
    )
    assert await _names(catalogue) == sorted(sample)


async def test_on_the_embedded_database_too_the_output_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no XDG_RUNTIME_DIR (a container, cron) pgserver's lock path made platformdirs warn.
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    code, out, err = await _run(SAMPLE, None, tmp_path)
    assert (code, err) == (0, ""), err
    assert out == f"reactor-chat: {SAMPLE}: 11 added, 0 updated, 0 unchanged, 0 removed\n"
    assert "initdb" in (tmp_path / "data" / "postgres.log").read_text(encoding="utf-8")


async def test_a_second_import_updates_by_name_and_replace_removes_the_rest(
    catalogue_url: str, catalogue: AsyncEngine, tmp_path: Path
) -> None:
    first = tmp_path / "first.json"
    first.write_text(
        json.dumps([{"name": "Lamp", "price": 10}, {"name": "Mug", "description": "white"}]),
        encoding="utf-8",
    )
    code, out, err = await _run(first, catalogue_url, tmp_path, "--replace")
    assert (code, err) == (0, ""), err

    second = tmp_path / "second.csv"
    second.write_text("name,description,price\nLamp,brass,12.50\nKettle,,\n", encoding="utf-8")
    code, out, err = await _run(second, catalogue_url, tmp_path)
    assert (code, err) == (0, ""), err
    assert out == f"reactor-chat: {second}: 1 added, 1 updated, 0 unchanged, 0 removed\n"
    assert await _names(catalogue) == ["Kettle", "Lamp", "Mug"]
    async with catalogue.connect() as conn:
        lamp = (
            await conn.execute(
                text("select description, price::text from products where name = 'Lamp'")
            )
        ).one()
    assert tuple(lamp) == ("brass", "12.50")

    code, out, err = await _run(second, catalogue_url, tmp_path, "--replace")
    assert (code, err) == (0, ""), err
    assert out == f"reactor-chat: {second}: 0 added, 0 updated, 2 unchanged, 1 removed\n"
    assert await _names(catalogue) == ["Kettle", "Lamp"]


async def test_a_failure_is_one_line_on_stderr_and_changes_nothing(
    catalogue_url: str, catalogue: AsyncEngine, tmp_path: Path
) -> None:
    before = await _names(catalogue)
    file = tmp_path / "twice.json"
    file.write_text('[\n  {"name": "Twice"},\n  {"name": "Twice"}\n]', encoding="utf-8")
    code, out, err = await _run(file, catalogue_url, tmp_path, "--replace")
    assert code == 1
    assert out == ""
    assert (
        err
        == f"reactor-chat: {file}: line 3: `name` repeats the product of line 2; nothing was loaded\n"
    )
    # A database that is not there: still one line, no traceback.
    gone = catalogue_url.rsplit("/", 1)[0] + f"/missing_{uuid.uuid4().hex[:8]}"
    code, out, err = await _run(SAMPLE, gone, tmp_path)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"reactor-chat: {SAMPLE}: ")
    assert err.endswith("; nothing was loaded\n")
    assert await _names(catalogue) == before


async def test_the_sample_catalogue_loads(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    code, out = await _import(SAMPLE, database_url, tmp_path)
    assert code == 0, out
    assert await _count(engine, "Stainless steel kettle") == 1


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

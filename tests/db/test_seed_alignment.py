"""The catalogue matches the seed guide's SQL (shared/seed, or the copy beside this test when
it is not there): its indexes by name, table and columns; its policies by name, table,
command, USING and WITH CHECK, and what their expressions mean.

Our policies read the caller through `(select request_user_id())` (0003: read once per
statement, so the index on user_id serves them); the seed reads the JWT's `sub` claim on every
row. Both name the same user, so both are rewritten to CALLER before comparing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import service_transaction

SHARED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_5ab2e82ab2b1e9dd.txt"
LOCAL_COPY = Path(__file__).resolve().parent / "seed" / "chatbot_guide.txt"

_SEED_CALLER = re.compile(
    r"\(?current_setting\('request\.jwt\.claims',true\)::json->>'sub'\)?::uuid"
)
_OUR_CALLER = re.compile(r"\(selectrequest_user_id\(\)(asrequest_user_id)?\)")


def _guide() -> str:
    return (SHARED if SHARED.exists() else LOCAL_COPY).read_text(encoding="utf-8")


def _sql() -> str:
    """The guide's SQL section: from the first CREATE TABLE to the deploy step."""
    guide = _guide()
    start = guide.index("CREATE TABLE")
    return guide[start : guide.index("Deploy migrations", start)]


def _balanced(sql: str, start: int) -> tuple[str, int]:
    """The parenthesised text opening at sql[start], without its outer parentheses."""
    depth = 0
    for i in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[i], 0)
        if depth == 0:
            return sql[start + 1 : i], i + 1
    raise ValueError("unbalanced parentheses")


def seed_indexes() -> dict[str, tuple[str, list[str]]]:
    found = re.finditer(r"CREATE INDEX (\w+) ON (\w+)\s*\(([^)]*)\)", _sql(), re.IGNORECASE)
    return {m[1]: (m[2], [c.strip() for c in m[3].split(",")]) for m in found}


def seed_policies() -> dict[str, dict[str, str | None]]:
    sql = _sql()
    policies: dict[str, dict[str, str | None]] = {}
    for m in re.finditer(r"CREATE POLICY (\w+) ON (\w+) FOR (\w+)\s+USING\s*", sql, re.IGNORECASE):
        using, end = _balanced(sql, m.end())
        check = None
        after = re.match(r"\s*WITH CHECK\s*", sql[end:], re.IGNORECASE)
        if after:
            check, _ = _balanced(sql, end + after.end())
        policies[m[1]] = {"table": m[2], "cmd": m[3].upper(), "qual": using, "with_check": check}
    return policies


def meaning(expression: str | None) -> str | None:
    """An expression with spacing, case, parentheses, casts of the deparser's and the way the
    caller is read taken out."""
    if expression is None:
        return None
    flat = re.sub(r"\s+", "", expression.lower())
    flat = flat.replace("conversations.", "")
    flat = _SEED_CALLER.sub("CALLER", flat)
    flat = _OUR_CALLER.sub("CALLER", flat)
    return re.sub(r"[()]", "", flat)


def test_the_local_copy_of_the_seed_is_current() -> None:
    if not SHARED.exists():
        pytest.skip("shared/seed is not beside this checkout")
    assert LOCAL_COPY.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8")


def test_the_seed_parses_into_what_it_says() -> None:
    assert seed_indexes() == {
        "messages_conversation_idx": ("messages", ["conversation_id", "created_at"])
    }
    policies = seed_policies()
    assert set(policies) == {"conversations_owner", "messages_via_conversation"}
    assert policies["conversations_owner"]["with_check"] is not None
    assert policies["messages_via_conversation"]["with_check"] is None
    assert meaning(policies["conversations_owner"]["qual"]) == "user_id=CALLER"


async def test_the_seeds_indexes_are_in_the_catalogue(engine: AsyncEngine) -> None:
    async with service_transaction(engine) as conn:
        rows = await conn.execute(
            text(
                "select indexname, tablename, indexdef from pg_indexes where schemaname = 'public'"
            )
        )
        catalogue = {r.indexname: (r.tablename, r.indexdef) for r in rows}
    for name, (table, columns) in seed_indexes().items():
        assert name in catalogue, name
        assert catalogue[name][0] == table
        assert catalogue[name][1].endswith(f"({', '.join(columns)})"), catalogue[name][1]


async def test_the_seeds_policies_are_in_the_catalogue(engine: AsyncEngine) -> None:
    async with service_transaction(engine) as conn:
        rows = await conn.execute(
            text(
                "select policyname, tablename, cmd, qual, with_check from pg_policies"
                " where schemaname = 'public'"
            )
        )
        catalogue = {r.policyname: r for r in rows}
    for name, seed in seed_policies().items():
        ours = catalogue[name]
        assert ours.tablename == seed["table"], name
        assert ours.cmd == seed["cmd"], name
        assert meaning(ours.qual) == meaning(seed["qual"]), (name, ours.qual)
        assert (ours.with_check is None) == (seed["with_check"] is None), name
        assert meaning(ours.with_check) == meaning(seed["with_check"]), (name, ours.with_check)

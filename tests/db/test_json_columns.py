"""json and jsonb values read back exactly as json would read them, whichever decoder ran."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import column, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import json_loads

TEXTS = [
    '{"target": "local/echo", "usage": {"prompt_tokens": 12, "total_tokens": 52}}',
    '{"n": 123456789012345678901234567890}',
    '{"n": -9223372036854775809, "m": 18446744073709551616}',
    '{"f": 0.1, "g": 2e-300, "h": -0.0, "i": 1.7976931348623157e308}',
    '{"s": "a\\u0000b\\ud83d\\ude00", "t": "\\u00e9", "u": "12345678901234567890"}',
    '"\\ud800"',
    "1e400",
    "[]",
]


@pytest.mark.parametrize("value", TEXTS)
def test_json_loads_agrees_with_json(value: str) -> None:
    assert repr(json_loads(value)) == repr(json.loads(value))


async def test_a_jsonb_column_keeps_every_digit(engine: AsyncEngine) -> None:
    stored = '{"n": 123456789012345678901234567890, "f": 0.1}'
    async with engine.connect() as conn:
        query = select(column("v", JSONB)).select_from(
            text(f"(select '{stored}'::jsonb as v) as t")
        )
        value = (await conn.execute(query)).scalar_one()
    assert value == {"n": 123456789012345678901234567890, "f": 0.1}

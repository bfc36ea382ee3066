"""docs/security.md promises that message contents are never logged. A failing statement is
where they would leak: the driver's error carries its bound parameters, and PostgreSQL's
DETAIL can quote the failing row. Each path is provoked with a sentinel text."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.logging_setup import JsonFormatter, TextFormatter
from db.engine import create_engine
from tests.chat.ws_client import CHAT, TRANSPORT_WS, GraphQLWebSocket
from tests.support.graphql import gql
from tests.support.server import ServerThread


def _sentinel() -> str:
    return f"sentinel-{uuid.uuid4().hex}"


def _rendered(error: BaseException) -> str:
    """The error as each of our log formats writes it."""
    logger = logging.getLogger("reactor.test.contents")
    record = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 0, "statement failed", None, None
    )
    record.exc_info = (type(error), error, error.__traceback__)
    return JsonFormatter().format(record) + "\n" + TextFormatter().format(record)


async def _failure(database_url: str, statement: str, params: dict[str, object]) -> DBAPIError:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    except DBAPIError as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("the statement did not fail")


async def test_a_refused_parameter_is_not_in_the_error(database_url: str) -> None:
    sentinel = _sentinel()
    # PostgreSQL refuses NUL in text: the error would quote the parameters.
    error = await _failure(database_url, "select length(:t)", {"t": f"{sentinel}\x00"})
    assert sentinel not in str(error)
    assert sentinel not in _rendered(error)


async def test_a_row_quoted_by_a_constraint_is_not_logged(database_url: str) -> None:
    sentinel = _sentinel()
    error = await _failure(
        database_url,
        "insert into messages (conversation_id, role, content) values (:c, 'nobody', :t)",
        {"c": uuid.uuid4(), "t": sentinel},
    )
    # The driver's error in the chain quotes the failing row in its DETAIL: only the log's
    # redaction stands between it and a log line.
    plain = logging.Formatter().formatException((type(error), error, error.__traceback__))
    assert sentinel in plain
    assert sentinel not in _rendered(error)


async def test_deleting_a_conversation_mid_reply_logs_no_text(
    chat_server: ServerThread, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sentinel = _sentinel()
    async with httpx.AsyncClient(base_url=chat_server.url, timeout=30) as http:
        created = await gql(http, "mutation { createConversation { id } }", token=token)
        conversation_id = created["data"]["createConversation"]["id"]
        variables = {"conversationId": conversation_id, "message": sentinel, "model": "hold"}
        async with GraphQLWebSocket(chat_server.url, token, TRANSPORT_WS) as ws:
            op_id = await ws.start(CHAT, variables)
            async for data in ws.results(op_id):
                if data["chat"].get("text") == sentinel:
                    break
            deleted = await gql(
                http,
                "mutation($id: UUID!) { deleteConversation(id: $id) }",
                {"id": conversation_id},
                token=token,
            )
            assert deleted["data"]["deleteConversation"] is True
        # The turn saves its partial reply as it ends, into a conversation that is gone.
        for _ in range(100):
            if any("chat turn" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    rendered = io.StringIO()
    for record in caplog.records:
        rendered.write(record.getMessage())
        if record.exc_info:
            rendered.write(logging.Formatter().formatException(record.exc_info))
    assert any("chat turn" in r.getMessage() for r in caplog.records)
    assert sentinel not in rendered.getvalue()

"""Log lines: JSON off a terminal, each carrying its request's id; credentials and message
contents never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.logging_setup import REQUEST_ID, JsonFormatter, RequestIdFilter, TextFormatter, redact
from tests.ops.serving import serve
from tests.support.graphql import mint_token


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("reactor.test.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_a_line_is_one_json_object_with_the_request_id(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    reset = REQUEST_ID.set("req0123456789")
    try:
        logger.info("turn %s finished", "t1", extra={"target": "local/echo"})
    finally:
        REQUEST_ID.reset(reset)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "turn t1 finished"
    assert entry["request_id"] == "req0123456789"
    assert entry["target"] == "local/echo"
    assert entry["level"] == "INFO"


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer abcdefghijklmnop.qrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        "sk-or-v1-0123456789abcdef0123456789abcdef",
        "AKIAABCDEFGHIJKLMNOP",
        "api_key=supersecretvalue123",
        'password: "hunter2hunter2"',
    ],
)
def test_credentials_in_a_message_or_traceback_are_redacted(
    captured: tuple[logging.Logger, io.StringIO], secret: str
) -> None:
    logger, stream = captured
    try:
        raise RuntimeError(f"upstream said: {secret}")
    except RuntimeError:
        logger.exception("provider failed with %s", secret)
    out = stream.getvalue()
    json.loads(out)  # still one valid JSON line
    core = secret.split()[-1].split("=")[-1].strip('"')
    assert core not in out
    assert "[redacted]" in out


def test_text_format_redacts_too() -> None:
    record = logging.LogRecord("x", logging.INFO, "", 0, "key sk-abcdefghijklmnopqrstu", None, None)
    assert "sk-abcdefghijklmnopqrstu" not in TextFormatter().format(record)
    assert redact("nothing to hide here") == "nothing to hide here"


async def test_served_process_logs_json_lines_tied_by_request_id_without_secrets(
    tmp_path: Path, database_url: str
) -> None:
    token = mint_token()
    title = "private-title-6f1d2c"
    request_id = "opslogprobe0123456789"
    async with serve(tmp_path, database_url, server__log_level="INFO") as served:
        async with httpx.AsyncClient(base_url=served.url) as http:
            response = await http.post(
                "/graphql?debug_token=querysecret123",
                json={
                    "query": "mutation Create($t: String) { createConversation(title: $t) { id } }",
                    "variables": {"t": title},
                },
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
            )
            assert response.headers["x-request-id"] == request_id
            assert "errors" not in response.json()
        await served.terminate()
    entries = [json.loads(line) for line in served.lines if line.strip()]
    assert entries, "the server logged nothing"
    ours = [e for e in entries if e.get("request_id") == request_id]
    assert {e["logger"] for e in ours} >= {"reactor.graphql.operation", "uvicorn.access"}
    everything = "\n".join(served.lines + served.stdout)
    assert token not in everything
    assert title not in everything
    assert "querysecret123" not in everything


def test_stored_data_quoted_by_a_database_error_is_redacted() -> None:
    quoted = (
        "(IntegrityError) duplicate key value\n"
        "DETAIL:  Key (name)=(private-7a1c) already exists.\n"
        "[SQL: insert into t values ($1)]\n"
        "[parameters: ('private-7a1c', 'more]private')]\n"
        "(Background on this error at: https://sqlalche.me/e/21/gkpj)"
    )
    redacted = redact(quoted)
    assert "private" not in redacted
    assert "[SQL: insert into t values ($1)]" in redacted
    assert "duplicate key value" in redacted

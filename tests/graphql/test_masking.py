"""An unexpected failure says only "Unexpected error." and a request id; the trace is logged."""

from __future__ import annotations

import logging

from graphql import GraphQLError

from resolvers.errors import NotFound
from schema.errors import UNEXPECTED, classify


def located(original: Exception) -> GraphQLError:
    return GraphQLError(str(original), path=["conversation"], original_error=original)


def test_unexpected_errors_are_masked_and_logged(caplog) -> None:  # type: ignore[no-untyped-def]
    error = located(RuntimeError("password=hunter2 at db.internal:5432"))
    with caplog.at_level(logging.ERROR, logger="reactor.graphql"):
        classify(error, None)
    assert error.message == UNEXPECTED
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": None}
    assert "hunter2" not in str(error.formatted)
    assert any(r.exc_info for r in caplog.records)


def test_app_errors_keep_their_code_and_message() -> None:
    error = located(NotFound("No such conversation."))
    classify(error, None)
    assert error.message == "No such conversation."
    assert error.extensions == {"code": "NOT_FOUND"}

"""Every error leaves with `extensions.code` from the contract; no internals leave at all.

- AppError (raised by resolvers): its code and message, as raised.
- Errors before execution (syntax, validation, limits, variable coercion): BAD_USER_INPUT.
- Anything else: "Unexpected error." with a request id; the trace goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.types.execution import ExecutionContext

from resolvers.errors import AppError

log = logging.getLogger("reactor.graphql")

UNEXPECTED = "Unexpected error."


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    context: Any = execution_context.context if execution_context else None
    return getattr(context, "request_id", None)


def _is_input_error(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return True
    # Variable coercion: a scalar's parser refused the value before any field ran.
    return error.path is None and isinstance(original, (ValueError, TypeError))


def classify(error: GraphQLError, execution_context: ExecutionContext | None) -> None:
    """Give `error` its code in place; mask it when it is not meant for the caller."""
    original = error.original_error
    if isinstance(original, AppError):
        error.extensions = dict(original.extensions)
        return
    if _is_input_error(error):
        error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
        return
    request_id = _request_id(execution_context)
    log.error(
        "unexpected error in %s (request %s)",
        ".".join(str(p) for p in error.path or ()) or "operation",
        request_id,
        exc_info=original,
    )
    error.message = UNEXPECTED
    error.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    error.original_error = None

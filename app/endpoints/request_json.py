"""Request bodies as JSON, read one way by /graphql, /fn/v1/chat and /ai/v1.

A body that is not UTF-8, nests deeper than MAX_DEPTH or has the wrong shape is refused with
a one-line reason, each endpoint rendering it in its own error format (400). Left to
`json.loads`, such bodies surfaced as 500s: bytes it guesses another encoding for, a
RecursionError, a list where an object was read with `.get`.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any request these endpoints take (a tool's JSON schema included) and shallow
# enough that no code walking the value recursively nears Python's recursion limit.
MAX_DEPTH = 64


class MalformedJSON(ValueError):
    """str() is the reason, one line, fit for the client."""


def _too_deep(value: Any) -> bool:
    # Iterative, and only containers are stacked: cheap for a wide body.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def loads(raw: bytes | str) -> Any:
    """The body's JSON value; MalformedJSON when it cannot be taken as one."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSON("The body is not UTF-8.") from None
    try:
        value = json.loads(raw)
    except RecursionError:
        raise MalformedJSON(f"The JSON nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise MalformedJSON(f"Invalid JSON: {exc}.") from None
    if isinstance(value, (dict, list)) and _too_deep(value):
        raise MalformedJSON(f"The JSON nests deeper than {MAX_DEPTH} levels.")
    return value


def json_object(raw: bytes | str) -> dict[str, Any]:
    value = loads(raw)
    if not isinstance(value, dict):
        raise MalformedJSON("Expected a JSON object.")
    return value


def json_object_or_batch(raw: bytes | str) -> dict[str, Any] | list[dict[str, Any]]:
    """An object, or a non-empty list of objects (a GraphQL batch)."""
    value = loads(raw)
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    raise MalformedJSON("Expected a JSON object, or a list of objects for a batch.")

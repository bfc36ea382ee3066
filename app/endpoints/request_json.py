"""Request bodies as JSON, read one way by /graphql, /fn/v1/chat and /ai/v1.

A body that is not UTF-8, nests deeper than MAX_DEPTH or has the wrong shape is refused with
a one-line reason, each endpoint rendering it in its own error format (400). Left to
`json.loads`, such bodies surfaced as 500s: bytes it guesses another encoding for, a
RecursionError, a list where an object was read with `.get`.

`json_object` (/fn/v1/chat, /ai/v1) also refuses a string holding an unpaired surrogate
(`"\\ud800"` is valid JSON, but not text): those endpoints hand their strings to the
database and to providers, and encoding one failed mid-request. /graphql leaves text to
the schema, which refuses it per argument (schema/text_input.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deeper than any request these endpoints take (a tool's JSON schema included) and shallow
# enough that no code walking the value recursively nears Python's recursion limit.
MAX_DEPTH = 64

_UNPAIRED = re.compile("[\ud800-\udfff]")  # json.loads joins the pairs; any left is unpaired


class MalformedJSON(ValueError):
    """str() is the reason, one line, fit for the client."""


def _problem(value: Any, text: bool) -> str | None:
    """Why the parsed value is refused, if it is: too deep, or (`text`) not text."""
    # Iterative, and only containers are stacked: cheap for a wide body.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"The JSON nests deeper than {MAX_DEPTH} levels."
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif text and isinstance(child, str) and _UNPAIRED.search(child):
                return "The JSON holds an unpaired surrogate, which is not text."
    return None


def loads(raw: bytes | str, *, text: bool = False) -> Any:
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
    if isinstance(value, (dict, list)) and (problem := _problem(value, text)):
        raise MalformedJSON(problem)
    return value


def json_object(raw: bytes | str) -> dict[str, Any]:
    """An object whose strings are all text."""
    value = loads(raw, text=True)
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

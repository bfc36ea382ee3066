"""Text a client sends may hold no NUL and no unpaired surrogate: PostgreSQL's text cannot store
a NUL and UTF-8 cannot encode a lone surrogate, so either would fail deep in a resolver (an
internal error, maybe half a turn written). Refused here, before execution, for every string
of the document (inline arguments, variable defaults) and every string of the variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule

_UNUSABLE = re.compile("[\x00\ud800-\udfff]")

MESSAGE = "Text may not contain NUL characters or unpaired surrogates."


def is_unusable(text: str) -> bool:
    return _UNUSABLE.search(text) is not None


class NoUnusableText(ValidationRule):
    """Every string literal in the document."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if is_unusable(node.value):
            self.report_error(GraphQLError(MESSAGE, node))


def _holds_unusable(value: Any) -> bool:
    # Iterative: variables nest as deep as their JSON, and no deeper walk should fail on it.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if is_unusable(item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def unusable_variables(variables: Mapping[str, Any] | None) -> list[GraphQLError]:
    """One error per variable whose value holds unusable text."""
    return [
        GraphQLError(f"Variable ${name}: {MESSAGE}")
        for name, value in (variables or {}).items()
        if is_unusable(name) or _holds_unusable(value)
    ]

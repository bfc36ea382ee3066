"""Limits on what one request may ask, each a small named rule (Strawberry's extensions).

Factories, not instances: Strawberry builds a fresh extension for every operation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from app.settings import ServerSettings


def limit_extensions(server: ServerSettings) -> list[Callable[[], SchemaExtension]]:
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=server.max_query_tokens),
        partial(QueryDepthLimiter, max_depth=server.max_query_depth),
        partial(MaxAliasesLimiter, max_alias_count=server.max_aliases),
    ]
    if not server.introspection:
        extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
    return extensions

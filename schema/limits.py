"""Limits on what one request may ask, each a small named rule (Strawberry's extensions).

The validation rules are built once per schema, not per operation: Strawberry's validation
cache is keyed on the rule classes, and a limiter extension built per operation would make
a new class each time, so no document would ever be served from the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from graphql import ASTValidationRule
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

from app.settings import ServerSettings


def limit_extensions(server: ServerSettings) -> list[Callable[[], SchemaExtension]]:
    rules: list[type[ASTValidationRule]] = [
        max_depth_rule(server.max_query_depth, None, None),
        max_aliases_rule(server.max_aliases),
    ]
    if not server.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        partial(MaxTokensLimiter, max_token_count=server.max_query_tokens),
        partial(AddValidationRules, rules),
    ]

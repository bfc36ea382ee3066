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
from pydantic import BaseModel, ConfigDict, Field
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule


class GraphQLLimits(BaseModel):
    """What one GraphQL request may ask; configured in `[server]`, where the app's own keys
    live too."""

    model_config = ConfigDict(extra="forbid")

    # Introspection helps developers; production may switch it off.
    introspection: bool = True
    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_query_tokens: int = Field(default=2000, ge=10)
    max_batch_operations: int = Field(default=10, ge=1)


def limit_extensions(limits: GraphQLLimits) -> list[Callable[[], SchemaExtension]]:
    rules: list[type[ASTValidationRule]] = [
        max_depth_rule(limits.max_query_depth, None, None),
        max_aliases_rule(limits.max_aliases),
    ]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        partial(MaxTokensLimiter, max_token_count=limits.max_query_tokens),
        partial(AddValidationRules, rules),
    ]

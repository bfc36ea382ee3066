"""Limits on what one request may ask, and the validation step that enforces them.

Validation starts with the document's measure (schema/query_cost.py: linear in its text,
whatever its fragments would expand to) against the cost, depth and alias limits; only a
document within them meets graphql-core's rules, some of which walk fragments as expanded.
Strawberry's own depth and alias validators are not used: they expand fragments, so a few
hundred bytes of fragments spreading each other twice would hold the worker for hours.

Validation is cached per document (a client sends the same few over and over), built once
per schema: a cache keyed on rule classes made per operation would never hit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache, partial

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from graphql.validation import NoSchemaIntrospectionCustomRule
from pydantic import BaseModel, ConfigDict, Field
from strawberry.extensions import MaxTokensLimiter, SchemaExtension
from strawberry.schema.schema import validate_document

from schema.credential_limit import OneCredentialMutation
from schema.query_cost import measure
from schema.text_input import NoUnusableText, unusable_variables

VALIDATION_CACHE_SIZE = 256

Rules = tuple[type[ASTValidationRule], ...]
Validate = Callable[[GraphQLSchema, DocumentNode, Rules], list[GraphQLError]]


class GraphQLLimits(BaseModel):
    """What one GraphQL request may ask; configured in `[server]`, where the app's own keys
    live too."""

    model_config = ConfigDict(extra="forbid")

    # Introspection helps developers; off in production (`[server] environment`).
    introspection: bool = True
    # As many selections as a document within max_query_tokens could write out in full:
    # fragments may shorten a document, not multiply it, and repeating a field costs its
    # comparisons (schema/query_cost.py). The largest legitimate document, the introspection
    # query clients send, costs 240.
    max_query_cost: int = Field(default=2000, ge=1)
    # graphql-js's introspection query (typeDepth 9, as GraphiQL sends it) nests 14 deep.
    max_query_depth: int = Field(default=14, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_query_tokens: int = Field(default=2000, ge=10)
    max_batch_operations: int = Field(default=10, ge=1)


def over_limits(document: DocumentNode, limits: GraphQLLimits) -> list[GraphQLError]:
    """The limits the document's operations exceed, the cost first; empty when within all."""
    size = measure(document)
    cost = size.cost + size.pairs
    if cost > limits.max_query_cost:
        message = (
            f"Query cost {cost} exceeds max_query_cost ({limits.max_query_cost}): every "
            "field and fragment spread counts as often as it would be expanded, and every "
            "pair of same-named fields (or of fragments) in one selection set once."
        )
        return [GraphQLError(message)]
    errors = []
    if size.depth > limits.max_query_depth:
        message = f"Query depth {size.depth} exceeds max_query_depth ({limits.max_query_depth})."
        errors.append(GraphQLError(message))
    if size.aliases > limits.max_aliases:
        message = f"{size.aliases} aliases exceed max_aliases ({limits.max_aliases})."
        errors.append(GraphQLError(message))
    return errors


def limited_validation(limits: GraphQLLimits) -> Validate:
    """A cached validation: the limits, then graphql-core's and Strawberry's rules with ours."""
    ours: Rules = (NoUnusableText, OneCredentialMutation)
    if not limits.introspection:
        ours = (*ours, NoSchemaIntrospectionCustomRule)

    @lru_cache(maxsize=VALIDATION_CACHE_SIZE)
    def validate(schema: GraphQLSchema, document: DocumentNode, rules: Rules) -> list[GraphQLError]:
        return over_limits(document, limits) or validate_document(schema, document, (*rules, *ours))

    return validate


class LimitedValidation(SchemaExtension):
    """Validates before any other validation can run (it sets the errors Strawberry's own
    step then skips), and refuses variables holding unusable text (schema/text_input.py)."""

    def __init__(self, validate: Validate) -> None:
        self.validate = validate

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            errors = self.validate(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
            context.pre_execution_errors = errors or unusable_variables(context.variables)
        yield


def limit_extensions(limits: GraphQLLimits) -> list[Callable[[], SchemaExtension]]:
    return [
        partial(MaxTokensLimiter, max_token_count=limits.max_query_tokens),
        partial(LimitedValidation, limited_validation(limits)),
    ]

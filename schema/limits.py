"""Limits on what one request may ask, each a small named rule (Strawberry's extensions).

The validation rules are built once per schema, not per operation: Strawberry's validation
cache is keyed on the rule classes, and a limiter extension built per operation would make
a new class each time, so no document would ever be served from the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    parse,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from pydantic import BaseModel, ConfigDict, Field
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

# signUp and signIn each cost an argon2 hash (a core and 64 MiB for a third of a second);
# refreshSession locks a session's rows. A client never needs two in one request, and
# thirty aliased in one document would make one request cost thirty hashes.
CREDENTIAL_MUTATIONS = frozenset({"signUp", "signIn", "refreshSession"})
ONE_CREDENTIAL_MUTATION = (
    "At most one of signUp, signIn and refreshSession per request (aliases and batches count)."
)


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


def credential_fields(
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> set[str]:
    """Response keys of the credential mutations among root `selections`, fragments followed.

    Keys, not fields: two selections with one key merge into one execution (or fail
    validation), so each key is one resolver call.
    """
    keys: set[str] = set()
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in CREDENTIAL_MUTATIONS:
                keys.add((selection.alias or selection.name).value)
        elif isinstance(selection, InlineFragmentNode):
            keys |= credential_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            # A fragment cycle is another rule's error; here it must only not recurse forever.
            if fragment is not None and name not in seen:
                keys |= credential_fields(fragment.selection_set, fragments, seen | {name})
    return keys


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


class OneCredentialMutation(ValidationRule):
    """A mutation operation selects at most one credential mutation."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
        if node.operation is not OperationType.MUTATION:
            return
        fragments = _fragments(self.context.document)
        if len(credential_fields(node.selection_set, fragments)) > 1:
            self.report_error(GraphQLError(ONE_CREDENTIAL_MUTATION, node))


def credential_mutations(query: str | None, operation_name: str | None, max_tokens: int) -> int:
    """How many credential mutations one request of a batch would run, before anything runs.

    A document that does not parse counts none: its own execution refuses it. Without an
    operation name every mutation of the document counts, which over-counts only documents
    that cannot run anyway.
    """
    if not query:
        return 0
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return 0
    fragments = _fragments(document)
    return sum(
        len(credential_fields(definition.selection_set, fragments))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and definition.operation is OperationType.MUTATION
        and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        )
    )


def limit_extensions(limits: GraphQLLimits) -> list[Callable[[], SchemaExtension]]:
    rules: list[type[ASTValidationRule]] = [
        max_depth_rule(limits.max_query_depth, None, None),
        max_aliases_rule(limits.max_aliases),
        OneCredentialMutation,
    ]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        partial(MaxTokensLimiter, max_token_count=limits.max_query_tokens),
        partial(AddValidationRules, rules),
    ]

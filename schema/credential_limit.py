"""One credential mutation per request: signUp and signIn each cost an argon2 hash (a core
and 64 MiB for a third of a second) and refreshSession locks a session's rows. A client never
needs two in one request, and thirty aliased in one document would make one request cost
thirty hashes. The rule counts them within an operation; the view counts them across a
batch (app/endpoints/graphql.py), where the operations' documents are only known together.

Fragments are followed once each (their keys memoised), so a document whose fragments
spread each other many times costs time linear in its text here too.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import (
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

CREDENTIAL_MUTATIONS = frozenset({"signUp", "signIn", "refreshSession"})
ONE_CREDENTIAL_MUTATION = (
    "At most one of signUp, signIn and refreshSession per request (aliases and batches count)."
)


class _Keys:
    """Response keys of the credential mutations among root selections, fragments followed.

    Keys, not fields: two selections with one key merge into one execution (or fail
    validation), so each key is one resolver call.
    """

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, frozenset[str]] = {}
        self.visiting: set[str] = set()

    def of(self, selections: SelectionSetNode) -> frozenset[str]:
        keys: set[str] = set()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in CREDENTIAL_MUTATIONS:
                    keys.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                keys |= self.of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                keys |= self.fragment(selection.name.value)
        return frozenset(keys)

    def fragment(self, name: str) -> frozenset[str]:
        found = self.memo.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        # A cycle or an unknown fragment is another rule's error; here it counts nothing.
        if definition is None or name in self.visiting:
            return frozenset()
        self.visiting.add(name)
        found = self.memo[name] = self.of(definition.selection_set)
        self.visiting.discard(name)
        return found


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
        keys = _Keys(_fragments(self.context.document))
        if len(keys.of(node.selection_set)) > 1:
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
    keys = _Keys(_fragments(document))
    return sum(
        len(keys.of(definition.selection_set))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and definition.operation is OperationType.MUTATION
        and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        )
    )

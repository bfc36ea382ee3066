"""What a query asks below a field, read before that field resolves: a resolver that can read
nested data in its own transaction looks its arguments up here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionNode,
    Undefined,
    get_named_type,
    value_from_ast,
)

from schema.context import Info


def arguments_below(info: Info, path: Sequence[str]) -> list[dict[str, Any]]:
    """The arguments of every field reached from the one resolving along `path` (field names,
    not aliases; through fragments), coerced as graphql-core coerces them for the field's
    resolver: variables in place, defaults filled in. A field under @skip or @include is
    counted as asked: reading it anyway costs only the reading."""
    raw = info._raw_info
    nodes: list[FieldNode] = list(raw.field_nodes)
    parent = get_named_type(raw.return_type)
    for name in path:
        if not isinstance(parent, GraphQLObjectType) or name not in parent.fields:
            return []
        field = parent.fields[name]
        nodes = [
            node
            for above in nodes
            if above.selection_set is not None
            for node in _fields(above.selection_set.selections, raw.fragments)
            if node.name.value == name
        ]
        parent = get_named_type(field.type)
    variables = info.variable_values
    return [_arguments(field, node, variables) for node in nodes]


def _arguments(field: GraphQLField, node: FieldNode, variables: dict[str, Any]) -> dict[str, Any]:
    given = {argument.name.value: argument.value for argument in node.arguments or ()}
    found = {}
    for name, definition in field.args.items():
        value = Undefined
        if name in given:
            value = value_from_ast(given[name], definition.type, variables)
        if value is Undefined:
            value = definition.default_value
        if value is not Undefined:
            found[name] = value
    return found


def _fields(
    selections: Iterable[SelectionNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _fields(fragments[selection.name.value].selection_set.selections, fragments)

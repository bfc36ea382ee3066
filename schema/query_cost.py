"""What a GraphQL document asks for as it would run, measured without running or expanding it.

A fragment spread twice costs twice, so N fragments each spreading the next twice ask for
2^N fields in a few hundred bytes. Walking the expansion (as Strawberry's depth and alias
validators do) takes as long as running it; here every definition is walked once and each
fragment's measure is kept and reused, so a document is measured in time linear in its text.

Validation has a cost of its own: graphql-core's OverlappingFieldsCanBeMerged compares every
pair of fields sharing a response name in a selection set, and every pair of fragments
spread side by side, so 400 copies of `models { name }` (1,600 tokens) hold the worker for
a second. Those pairs are counted too, once per selection set as written, as that rule
visits them.

A fragment spread inside its own expansion (a cycle) adds nothing here: NoFragmentCycles,
which runs once the document is within the limits, refuses it. So does KnownFragmentNames a
spread of a fragment that is not defined.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


@dataclass(frozen=True)
class Measure:
    """`cost`: fields, inline fragments and fragment spreads, each fragment counted as often
    as it would be expanded. `depth`: the deepest field, a top-level field at 0 (introspection
    fields count like any other). `aliases`: aliased fields, as expanded. `pairs`: what
    validation compares in each selection set as written (fields sharing a response name,
    fragments spread side by side), each selection set once."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    pairs: int = 0


@dataclass
class _Local:
    """One definition's own selections, its fragment spreads not yet expanded."""

    cost: int = 0
    depth: int = -1  # no field yet
    aliases: int = 0
    pairs: int = 0
    spreads: list[tuple[str, int]] = field(default_factory=list)  # (fragment, level of the spread)


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def _local(selection_set: SelectionSetNode) -> _Local:
    # Iterative: a chain of nested selections must not meet Python's recursion limit.
    local = _Local()
    stack: list[tuple[SelectionSetNode, int]] = [(selection_set, 0)]
    while stack:
        group, level = stack.pop()
        # A selection set with its inline fragments: one field map for validation.
        keys: Counter[str] = Counter()
        fragments: set[str] = set()
        inline = [group]
        while inline:
            for selection in inline.pop().selections:
                local.cost += 1
                if isinstance(selection, FieldNode):
                    local.depth = max(local.depth, level)
                    local.aliases += selection.alias is not None
                    keys[(selection.alias or selection.name).value] += 1
                    if selection.selection_set is not None:
                        stack.append((selection.selection_set, level + 1))
                elif isinstance(selection, FragmentSpreadNode):
                    local.spreads.append((selection.name.value, level))
                    fragments.add(selection.name.value)
                elif isinstance(selection, InlineFragmentNode):
                    inline.append(selection.selection_set)
        local.pairs += sum(_pairs(n) for n in keys.values() if n > 1) + _pairs(len(fragments))
    return local


class _Fragments:
    """Each fragment's expanded measure, computed once, children before parents."""

    def __init__(self, document: DocumentNode) -> None:
        self.local = {
            d.name.value: _local(d.selection_set)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        for name in self.local:
            if name not in self.measured:
                self._measure_from(name)

    def _measure_from(self, root: str) -> None:
        # Depth-first with an explicit stack (a chain of fragments must not meet Python's
        # recursion limit). A spread of a fragment on the current path is a cycle.
        path = [(root, iter(self.local[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _ in spreads:
                if spread in self.local and spread not in self.measured and spread not in on_path:
                    on_path.add(spread)
                    path.append((spread, iter(self.local[spread].spreads)))
                    break
            else:
                path.pop()
                on_path.discard(name)
                self.measured[name] = self.combine(self.local[name])

    def combine(self, local: _Local) -> Measure:
        cost, depth, aliases = local.cost, local.depth, local.aliases
        for name, level in local.spreads:
            expanded = self.measured.get(name)
            if expanded is None:  # not defined, or a cycle: validation refuses either
                continue
            cost += expanded.cost
            aliases += expanded.aliases
            depth = max(depth, level + expanded.depth)
        return Measure(cost=cost, depth=max(depth, 0), aliases=aliases)


def measure(document: DocumentNode) -> Measure:
    """The document's operations as they would be expanded: costs and aliases summed over
    the operations (validation reads them all), the deepest of their depths; the pairs of
    every definition, as written."""
    fragments = _Fragments(document)
    total = Measure(pairs=sum(local.pairs for local in fragments.local.values()))
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            local = _local(definition.selection_set)
            each = fragments.combine(local)
            total = Measure(
                cost=total.cost + each.cost,
                depth=max(total.depth, each.depth),
                aliases=total.aliases + each.aliases,
                pairs=total.pairs + local.pairs,
            )
    return total

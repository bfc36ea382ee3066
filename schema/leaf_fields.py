"""Leaf fields read straight off their object, without graphql-core's per-field machinery.

A page of 20 conversations with 5 messages each is about 500 field executions, two thirds of
them leaves such as a message's `id`, `role` and `content`: plain attributes with no
resolver, no arguments, nothing that could wait. graphql-core runs each through the same
steps as any field: a response path, a resolve info, Strawberry's default resolver chain,
two awaitable checks and the non-null and leaf completion. Most of the read path's CPU went
there (docs/benchmarks.md).

For such a field the outcome is `coerce_output_value(getattr(source, name))`, so that is
what we compute; anything else (a null where none is allowed, a value the scalar refuses, a
field with a resolver, arguments or middleware) takes graphql-core's own path, which then
produces the value or the located error exactly as before. A plain field of objects, or of
lists of them, is read the same way and its objects' fields executed directly, skipping the
resolve info, Strawberry's resolver chain and the value completion that would lead to the
same call. Tested equal to ordinary execution in tests/graphql/test_leaf_fields.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# Per object type, per field name: the plan, or None where graphql-core must execute. A plan
# depends on the schema's field alone, which never changes.
_PLANS: WeakKeyDictionary[GraphQLObjectType, dict[str, LeafPlan | None]] = WeakKeyDictionary()
_COMPOSITES: WeakKeyDictionary[GraphQLObjectType, dict[str, CompositePlan | None]] = (
    WeakKeyDictionary()
)

# What Strawberry resolves a field with when it has no resolver of its own (and no
# extension or exception handler): the field's attribute, read by the configured default.
BASIC_RESOLVER = "_get_basic_result"


class LeafPlan:
    """How to read one leaf field: the attribute, its output coercion, and whether null is
    allowed."""

    __slots__ = ("attribute", "coerce", "non_null", "plain_string")

    def __init__(self, attribute: str, leaf: GraphQLScalarType | GraphQLEnumType, non_null: bool):
        self.attribute = attribute
        self.coerce: Callable[[Any], Any] = leaf.coerce_output_value
        self.non_null = non_null
        # A str is its own String output: graphql-core's coercion returns it unchanged.
        self.plain_string = leaf is GraphQLString

    def read(self, source: Any) -> Any:
        """The field's completed value, or Undefined when graphql-core must execute it (and
        report what went wrong: whatever fails here fails again there)."""
        try:
            value = getattr(source, self.attribute)
        except Exception:  # noqa: BLE001
            return Undefined
        if value is None:
            return Undefined if self.non_null else None
        if self.plain_string and type(value) is str:
            return value
        if isinstance(value, Exception) or isawaitable(value):
            return Undefined  # graphql-core raises the one, awaits the other
        try:
            coerced = self.coerce(value)
        except Exception:  # noqa: BLE001
            return Undefined
        return Undefined if coerced is None or coerced is Undefined else coerced


def _basic_attribute(parent_type: GraphQLObjectType, name: str) -> str | None:
    """The attribute a field reads when Strawberry would resolve it by reading that attribute
    alone (no resolver, extension, exception handler or argument); None for any other. A
    field with no arguments defined has none in a document that passed validation."""
    field_def = parent_type.fields.get(name)
    if field_def is None or field_def.args:
        return None
    resolve = field_def.resolve
    if resolve is None or getattr(resolve, "__name__", None) != BASIC_RESOLVER:
        return None
    field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(field, StrawberryField) or not field.is_basic_field:
        return None
    if field.default_resolver is not getattr:
        return None
    return field.python_name


def leaf_plan(parent_type: GraphQLObjectType, name: str) -> LeafPlan | None:
    """The plan for a plain leaf field; None for any other."""
    attribute = _basic_attribute(parent_type, name)
    if attribute is None:
        return None
    output = parent_type.fields[name].type
    non_null = isinstance(output, GraphQLNonNull)
    leaf = output.of_type if non_null else output
    if not isinstance(leaf, (GraphQLScalarType, GraphQLEnumType)):
        return None
    return LeafPlan(attribute, leaf, non_null)


class CompositePlan:
    """A plain field of objects (or lists of them): read the attribute, then complete it as
    graphql-core does, without building a resolve info or calling Strawberry's resolver.
    Completion reads `info` only to name the field in an error, so it gets this plan."""

    __slots__ = ("attribute", "field_name", "object_type", "parent_type", "return_type")

    def __init__(self, attribute: str, parent_type: GraphQLObjectType, name: str) -> None:
        self.attribute = attribute
        self.parent_type = parent_type
        self.field_name = name
        self.return_type = parent_type.fields[name].type
        # Not a list: its object's fields are executed directly.
        self.object_type = object_of(self.return_type)


def object_of(output: Any) -> GraphQLObjectType | None:
    """The object type that `output` is (or is not null of), when completing a value of it
    is only executing its fields: no `is_type_of` to ask, no list, no abstract type."""
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        return named
    return None


def composite_plan(parent_type: GraphQLObjectType, name: str) -> CompositePlan | None:
    """The plan for a plain field whose type is object types all the way down (lists and
    non-null around them), none of them asking `is_type_of`; None for any other."""
    attribute = _basic_attribute(parent_type, name)
    if attribute is None:
        return None
    named = parent_type.fields[name].type
    while isinstance(named, (GraphQLNonNull, GraphQLList)):
        named = named.of_type
    if not isinstance(named, GraphQLObjectType) or named.is_type_of is not None:
        return None
    return CompositePlan(attribute, parent_type, name)


class LeafFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor with plain leaf fields read directly (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per grouped field set (graphql-core builds one per selection and reuses it for
        # every item of a list): its leaves' plans, and the fields left to graphql-core.
        # Keyed by identity, with the set kept alive so that its id cannot be reused.
        self._splits: dict[int, tuple[GroupedFieldSet, Split]] = {}
        # Strawberry always passes a manager; it holds middleware only when a schema extension
        # hooks field resolution, which must then see every field.
        manager = self.middleware_manager
        self._hooked = manager is not None and bool(manager.middlewares)
        # Per field (graphql-core's field details are one list per selection, reused for
        # every item) and per list item type, within this operation.
        self._composites: dict[int, tuple[FieldDetailsList, CompositePlan | None]] = {}
        self._item_objects: dict[Any, GraphQLObjectType | None] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        cached = self._splits.get(id(grouped_field_set))
        split = cached[1] if cached is not None else self._split(parent_type, grouped_field_set)
        if split.leaves:
            results = {}
            for response_name, plan in split.leaves:
                value = plan.read(source_value)
                if value is Undefined:
                    break
                results[response_name] = value
            else:
                if not split.rest:
                    return results
                others = super().execute_fields(
                    parent_type, source_value, path, split.rest, position_context
                )
                return _in_order(grouped_field_set, results, others)
        # No leaves, or one graphql-core must report on: all of it the ordinary way.
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        plan = self._composite(parent_type, field_details_list)
        result: Any = Undefined
        if plan is not None:
            try:
                result = getattr(source, plan.attribute)
            except Exception:  # noqa: BLE001
                result = Undefined
        if (
            plan is None
            or result is None
            or result is Undefined
            or isinstance(result, Exception)
            or self.is_awaitable(result)
        ):
            # A null, or an attribute that fails, is for graphql-core to report.
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        return_type = plan.return_type
        try:
            if plan.object_type is not None:
                completed = self.collect_and_execute_subfields(
                    plan.object_type, field_details_list, path, result, position_context
                )
            else:
                completed = self.complete_value(
                    return_type,
                    field_details_list,
                    plan,  # type: ignore[arg-type]  # as the info: its parent_type and field_name
                    path,
                    result,
                    position_context,
                )
        except Exception as raw_error:  # noqa: BLE001
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed
        return self._awaited(completed, return_type, field_details_list, path)

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        item_path: Path,
        position_context: Any,
    ) -> bool:
        """graphql-core's, with an object item's fields executed directly rather than
        through the value completion that would come to the same call."""
        objects = self._item_objects
        if item_type in objects:
            object_type = objects[item_type]
        else:
            object_type = objects[item_type] = object_of(item_type)
        if object_type is None or item is None or isinstance(item, Exception):
            return super().complete_list_item_value(
                item,
                complete_results,
                item_type,
                field_details_list,
                info,
                item_path,
                position_context,
            )
        try:
            completed_item = self.collect_and_execute_subfields(
                object_type, field_details_list, item_path, item, position_context
            )
        except Exception as raw_error:  # noqa: BLE001
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            complete_results.append(None)
            return False
        if not self.is_awaitable(completed_item):
            complete_results.append(completed_item)
            return False
        complete_results.append(
            self._awaited(completed_item, item_type, field_details_list, item_path)
        )
        return True

    async def _awaited(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        """A completion that waits, its error reported at its place as graphql-core does."""
        try:
            return await completed
        except Exception as raw_error:  # noqa: BLE001
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def _composite(
        self, parent_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CompositePlan | None:
        known = self._composites.get(id(field_details_list))
        if known is not None:
            return known[1]
        plan = None
        node = field_details_list[0].node
        # @stream and the like, or an extension hooking resolution: graphql-core's own way.
        if not self._hooked and not node.directives:
            plans = _COMPOSITES.get(parent_type)
            if plans is None:
                plans = _COMPOSITES[parent_type] = {}
            name = node.name.value
            if name not in plans:
                plans[name] = composite_plan(parent_type, name)
            plan = plans[name]
        self._composites[id(field_details_list)] = (field_details_list, plan)
        return plan

    def _split(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> Split:
        leaves: list[tuple[str, LeafPlan]] = []
        rest: GroupedFieldSet = {}
        hooked = self._hooked
        for response_name, field_details_list in grouped_field_set.items():
            plan = None if hooked else _plan(parent_type, field_details_list[0].node.name.value)
            if plan is None:
                rest[response_name] = field_details_list
            else:
                leaves.append((response_name, plan))
        split = Split(leaves, rest)
        self._splits[id(grouped_field_set)] = (grouped_field_set, split)
        return split


class Split:
    __slots__ = ("leaves", "rest")

    def __init__(self, leaves: list[tuple[str, LeafPlan]], rest: GroupedFieldSet) -> None:
        self.leaves = leaves
        self.rest = rest


def _plan(parent_type: GraphQLObjectType, name: str) -> LeafPlan | None:
    plans = _PLANS.get(parent_type)
    if plans is None:
        plans = _PLANS[parent_type] = {}
    if name not in plans:
        plans[name] = leaf_plan(parent_type, name)
    return plans[name]


def _in_order(
    grouped_field_set: GroupedFieldSet,
    leaves: dict[str, Any],
    others: AwaitableOrValue[dict[str, Any]],
) -> AwaitableOrValue[dict[str, Any]]:
    """The object's fields in the document's order, as graphql-core would give them."""

    def merged(executed: dict[str, Any]) -> dict[str, Any]:
        return {
            name: leaves[name] if name in leaves else executed[name]
            for name in grouped_field_set
            if name in leaves or name in executed
        }

    if isinstance(others, dict):
        return merged(others)

    async def later() -> dict[str, Any]:
        return merged(await others)

    return later()

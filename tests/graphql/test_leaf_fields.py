"""Leaf fields read directly (schema/leaf_fields.py) give what graphql-core's execution gives:
the same data in the same order, and the same errors at the same paths."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.leaf_fields import LeafFieldsExecutor, leaf_plan
from schema.limits import GraphQLLimits
from schema.schema import build_schema


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Ready:
    """An awaitable standing in a plain attribute, which graphql-core awaits."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        return self._value().__await__()

    async def _value(self) -> Any:
        return self.value


@strawberry.type
class Item:
    id: uuid.UUID
    name: str
    colour: Colour
    count: int
    when: datetime
    maybe: str | None
    must: str
    friend: Item | None = None
    pals: list[Item] = strawberry.field(default_factory=list)

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def echo(self) -> str:
        if self.name.endswith(".2"):
            raise ValueError(f"no echo for {self.name}")
        return self.name

    @strawberry.field
    def children(self) -> list[Item]:
        return [_item(f"{self.name}.{n}") for n in range(2)]


def _item(name: str, **changes: Any) -> Item:
    values: dict[str, Any] = {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, name),
        "name": name,
        "colour": Colour.RED,
        "count": len(name),
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "maybe": None,
        "must": "here",
        **changes,
    }
    return Item(**values)


ITEMS = [
    _item("a"),
    _item("b", maybe="set", colour=Colour.BLUE),
    _item("c", must=None),  # null where the schema allows none
    _item("d", count=2**40),  # beyond GraphQL's Int
    _item("e", colour="purple"),  # not a Colour
    _item("f", friend=_item("f.friend"), pals=[_item("f.1"), _item("f.2")]),
    _item("g", friend=_item("g.friend", must=None)),  # an error inside a nullable object
    _item("h", pals=[_item("h.1"), _item("h.2", must=None)]),  # inside a non-null list
    _item("j", pals=[_item("j.1"), None]),
    _item(
        "k", friend=Ready(_item("k.friend")), maybe=Ready("late")
    ),  # awaitable attributes  # a null item where the list allows none
    _item("i", friend=_item("i.friend", friend=_item("i.friend.friend", count=2**40))),
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return ITEMS

    @strawberry.field
    async def later(self) -> list[Item]:
        return ITEMS[:2]


def _answer(
    execution_context_class: type[StrawberryGraphQLCoreExecutionContext], document: str
) -> str:
    schema = strawberry.Schema(query=Query, execution_context_class=execution_context_class)
    result = asyncio.run(schema.execute(document))
    errors = sorted(
        (e.message, tuple(e.path or ()), tuple((at.line, at.column) for at in e.locations or ()))
        for e in result.errors or ()
    )
    # json.dumps keeps the keys' order, which the comparison must see.
    return json.dumps({"data": result.data, "errors": errors})


DOCUMENTS = [
    "{ items { id name colour count when maybe must } }",
    "{ items { must name } }",
    "{ items { first: name name again: name shout __typename } }",
    "{ items { ...F children { ...F } } } fragment F on Item { id colour maybe }",
    "{ items { name @skip(if: true) count @include(if: false) id when } }",
    "query($s: Boolean!) { items { name @include(if: $s) id } }",
    "{ later { id shout name children { name count } } }",
    "{ items { name friend { name friend { count name } } pals { name } } }",
    "{ items { pals { must name friend { must } } friend { ...F } } } fragment F on Item { must }",
    "{ later { friend { name } pals { name pals { name } } } }",
    "{ items { friend { __typename name } } }",
    "{ items { name pals { echo name } friend { echo friend { echo } } } }",
    "{ later { pals { echo } } items { friend { must echo } } }",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_leaf_fields_answer_as_graphql_core_does(document: str) -> None:
    if "$s" in document:
        document = document.replace("query($s: Boolean!)", "query($s: Boolean! = true)")
    ordinary = _answer(StrawberryGraphQLCoreExecutionContext, document)
    assert _answer(LeafFieldsExecutor, document) == ordinary


def test_the_schema_s_plain_leaves_take_the_direct_path() -> None:
    """Strawberry's default resolver is what the plan recognises; if a Strawberry release
    renamed it, the direct path would silently stop and this fails."""
    types = build_schema(GraphQLLimits())._schema.type_map
    for type_name, field in (("Message", "content"), ("Message", "role"), ("Conversation", "id")):
        assert leaf_plan(types[type_name], field) is not None, (type_name, field)  # type: ignore[arg-type]
    for type_name, field in (("Conversation", "messages"), ("Message", "model")):
        assert leaf_plan(types[type_name], field) is None, (type_name, field)  # type: ignore[arg-type]


def test_an_extension_that_hooks_resolution_still_sees_every_field() -> None:
    seen: dict[str, list[str]] = {}

    def counting(name: str) -> type[SchemaExtension]:
        class Counting(SchemaExtension):
            def resolve(
                self, _next: Any, root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any
            ) -> Any:
                seen.setdefault(name, []).append(info.field_name)
                return _next(root, info, *args, **kwargs)

        return Counting

    for name, executor in (
        ("ordinary", StrawberryGraphQLCoreExecutionContext),
        ("leaf", LeafFieldsExecutor),
    ):
        schema = strawberry.Schema(
            query=Query, execution_context_class=executor, extensions=[counting(name)]
        )
        schema.execute_sync("{ items { id name } }")
    assert seen["leaf"] == seen["ordinary"]
    assert seen["leaf"].count("name") == len(ITEMS)

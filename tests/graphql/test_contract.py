"""The served schema keeps every name and type of shared/contract/api.graphql (it may add more)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLUnionType,
    build_schema,
)

from app.settings import Settings
from schema.schema import build_schema as build_served

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract" / "api.graphql"
LOCAL_COPY = Path(__file__).resolve().parent / "contract.graphql"

# Parts of the contract whose issues have not landed yet, by issue; each issue empties its
# share, and a part that is served while still listed here fails the test below.
PENDING: dict[str, set[str]] = {}


def _contract_sdl() -> str:
    return (CONTRACT if CONTRACT.exists() else LOCAL_COPY).read_text(encoding="utf-8")


def _kind(t: GraphQLNamedType) -> str:
    kinds = (
        GraphQLObjectType,
        GraphQLInterfaceType,
        GraphQLInputObjectType,
        GraphQLEnumType,
        GraphQLUnionType,
    )
    return next((k.__name__ for k in kinds if isinstance(t, k)), "scalar")


def _fields(t: GraphQLNamedType) -> dict[str, str]:
    if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType)):
        out = {}
        for name, field in t.fields.items():
            args = ",".join(f"{a}:{arg.type}" for a, arg in sorted(field.args.items()))
            out[name] = f"({args}){field.type}"
        return out
    if isinstance(t, GraphQLInputObjectType):
        return {name: str(f.type) for name, f in t.fields.items()}
    if isinstance(t, GraphQLEnumType):
        return dict.fromkeys(t.values, "")
    if isinstance(t, GraphQLUnionType):
        return {m.name: "" for m in t.types}
    return {}


def test_the_local_copy_of_the_contract_is_current() -> None:
    if not CONTRACT.exists():
        pytest.skip("shared/contract is not beside this checkout")
    assert LOCAL_COPY.read_text(encoding="utf-8") == CONTRACT.read_text(encoding="utf-8")


def _missing(settings: Settings) -> list[str]:
    """Contract types, fields, union members and argument lists the served schema lacks."""
    contract = build_schema(_contract_sdl())
    served = build_served(settings.server)._schema
    missing = []
    for name, ctype in contract.type_map.items():
        if name.startswith("__"):
            continue
        stype = served.type_map.get(name)
        if stype is None:
            missing.append(name)
            continue
        assert _kind(stype) == _kind(ctype), name
        served_fields = _fields(stype)
        for field, signature in _fields(ctype).items():
            if served_fields.get(field) != signature:
                missing.append(f"{name}.{field}")
    return missing


def test_every_contract_type_and_field_is_served(settings: Settings) -> None:
    pending = set().union(*PENDING.values())
    assert [name for name in _missing(settings) if name not in pending] == []


def test_nothing_served_is_still_listed_as_pending(settings: Settings) -> None:
    missing = set(_missing(settings))
    assert {issue: parts - missing for issue, parts in PENDING.items()} == {
        issue: set() for issue in PENDING
    }

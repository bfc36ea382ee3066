"""Bounded validation: a document is measured as its fragments would expand, in time linear in
its text, and refused over `max_query_cost`, `max_query_depth` or `max_aliases` before any
other validation rule sees it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from graphql import get_introspection_query, parse

from schema.query_cost import Measure, measure
from tests.ops.serving import serve
from tests.support.graphql import codes, gql


def fan_out(levels: int) -> str:
    """`levels` fragments, each spreading the next twice: 2^levels fields as expanded."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join(
        ["query { ...F0 }", *fragments, f"fragment F{levels} on Query {{ __typename }}"]
    )


def _expanded(document: str) -> Measure:
    """The same measure by expanding every spread: slow, and the definition of right."""
    doc = parse(document)
    fragments = {d.name.value: d for d in doc.definitions if d.kind == "fragment_definition"}

    def walk(selection_set: object, level: int) -> tuple[int, int, int]:
        cost, depth, aliases = 0, 0, 0
        for selection in selection_set.selections:  # type: ignore[attr-defined]
            cost += 1
            if selection.kind == "field":
                depth = max(depth, level)
                aliases += selection.alias is not None
                inner = selection.selection_set
                if inner is not None:
                    c, d, a = walk(inner, level + 1)
                    cost, depth, aliases = cost + c, max(depth, d), aliases + a
            else:
                inner = (
                    fragments[selection.name.value].selection_set
                    if selection.kind == "fragment_spread"
                    else selection.selection_set
                )
                c, d, a = walk(inner, level)
                cost, depth, aliases = cost + c, max(depth, d), aliases + a
        return cost, depth, aliases

    totals = [walk(d.selection_set, 0) for d in doc.definitions if d.kind == "operation_definition"]
    return Measure(
        cost=sum(t[0] for t in totals),
        depth=max(t[1] for t in totals),
        aliases=sum(t[2] for t in totals),
    )


def test_the_measure_is_the_expanded_documents() -> None:
    documents = [
        fan_out(6),
        "{ conversations { edges { node { id t: title } } } x: models { name } }",
        "query A { ...C ... on Query { ...D } } query B { ...D }"
        " fragment C on Query { a: models { ...E } } fragment D on Query { b: __typename ...E }"
        " fragment E on Query { models { name n: isDefault } }",
        get_introspection_query(type_depth=9),
    ]
    for document in documents:
        measured = measure(parse(document))
        assert (measured.cost, measured.depth, measured.aliases) == (
            _expanded(document).cost,
            _expanded(document).depth,
            _expanded(document).aliases,
        ), document


def test_pairs_are_what_validation_compares_in_each_selection_set() -> None:
    document = (
        "{ models { name name } ... on Query { models { name } } ...A ...A ...B }"
        " fragment A on Query { x: __typename x: __typename x: __typename }"
        " fragment B on Query { __typename }"
    )
    # models twice, one of them in an inline fragment (1 pair), fragments A and B side by
    # side (1), name twice in the first models (1), x three times in A (3): A's pairs count
    # once, as written, though it is spread twice.
    assert measure(parse(document)).pairs == 6


def test_a_fragment_cycle_is_measured_and_left_to_validation() -> None:
    document = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A __typename }"
    assert measure(parse(document)).cost < 10


async def test_a_fan_out_of_fragments_is_refused(client: httpx.AsyncClient, token: str) -> None:
    body = await gql(client, fan_out(40), token=token)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "max_query_cost" in body["errors"][0]["message"]
    assert body.get("data") is None


async def test_a_fan_out_within_the_cost_is_served(client: httpx.AsyncClient, token: str) -> None:
    body = await gql(client, fan_out(5), token=token)
    assert body == {"data": {"__typename": "Query"}}


async def test_a_field_repeated_hundreds_of_times_is_refused(
    client: httpx.AsyncClient, token: str
) -> None:
    # 1,600 tokens, within max_query_tokens; graphql-core's overlapping-fields rule would
    # compare its 79,800 pairs of `models`, about a second of the worker's time.
    body = await gql(client, "{ " + " ".join(["models { name }"] * 400) + " }", token=token)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "max_query_cost" in body["errors"][0]["message"]


async def test_a_fragment_cycle_is_refused(client: httpx.AsyncClient, token: str) -> None:
    document = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    body = await gql(client, document, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_introspection_counts_toward_the_depth(client: httpx.AsyncClient) -> None:
    nested = "name"
    for _ in range(16):
        nested = f"ofType {{ {nested} }}"
    body = await gql(client, f"{{ __schema {{ types {{ fields {{ type {{ {nested} }} }} }} }} }}")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "max_query_depth" in body["errors"][0]["message"]


async def test_the_introspection_query_clients_send_is_served(client: httpx.AsyncClient) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        type_depth=9,
    )
    body = await gql(client, query)
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_aliases_in_fragments_count_as_expanded(
    client: httpx.AsyncClient, token: str
) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(10))
    document = f"query {{ ...A ...A ...A ...A }} fragment A on Query {{ {aliases} }}"
    body = await gql(client, document, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "max_aliases" in body["errors"][0]["message"]


async def test_the_server_answers_others_while_it_refuses_a_fan_out(
    tmp_path: Path, database_url: str
) -> None:
    # Sent together on two connections to one worker. Were the refusal to expand the
    # fragments, it would hold the event loop and neither response would come back.
    async with (
        serve(tmp_path, database_url) as served,
        httpx.AsyncClient(base_url=served.url, timeout=120) as client,
    ):
        arrived: list[str] = []

        async def attack() -> httpx.Response:
            response = await client.post("/graphql", json={"query": fan_out(40)})
            arrived.append("attack")
            return response

        async def health() -> httpx.Response:
            response = await client.get("/healthz")
            arrived.append("healthz")
            return response

        refused, healthy = await asyncio.gather(attack(), health())
        assert sorted(arrived) == ["attack", "healthz"]
        assert codes(refused.json()) == ["BAD_USER_INPUT"]
        assert "max_query_cost" in refused.json()["errors"][0]["message"]
        assert healthy.status_code == 200
        # And the worker is free: the next request is answered in turn.
        assert (await client.get("/healthz")).status_code == 200

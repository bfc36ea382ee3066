"""`search`: the caller's messages and titles, ranked, highlighted, escaped, paged; nothing of
anyone else's."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from db import messages
from db.session import rls_transaction
from tests.support.graphql import codes, gql, mint_token

SEARCH = """query($q: String!, $first: Int, $after: String) {
  search(query: $q, first: $first, after: $after) {
    edges { cursor node { snippet message { id content } conversation { id title archived } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""


async def _conversation(
    client: httpx.AsyncClient, token: str, title: str = "New conversation"
) -> uuid.UUID:
    body = await gql(
        client,
        "mutation($t: String) { createConversation(title: $t) { id } }",
        {"t": title},
        token=token,
    )
    return uuid.UUID(body["data"]["createConversation"]["id"])


async def _say(engine: AsyncEngine, user_id: uuid.UUID, cid: uuid.UUID, *texts: str) -> list[str]:
    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        return [str((await messages.add(conn, cid, "user", t)).id) for t in texts]


async def _search(
    client: httpx.AsyncClient, token: str, q: str, first: int = 20, after: str | None = None
) -> dict[str, object]:
    body = await gql(client, SEARCH, {"q": q, "first": first, "after": after}, token=token)
    assert "errors" not in body, body
    return body["data"]["search"]  # type: ignore[no-any-return]


def _contents(found: dict[str, object]) -> list[str]:
    return [e["node"]["message"]["content"] for e in found["edges"]]  # type: ignore[attr-defined,index]


async def test_finds_a_word_in_an_old_message_and_highlights_it(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    word = f"zebra{uuid.uuid4().hex[:6]}"
    cid = await _conversation(client, token)
    await _say(engine, user_id, cid, f"long ago we spoke of the {word} at the zoo")
    await _say(engine, user_id, cid, *(f"filler {i}" for i in range(30)))
    found = await _search(client, token, word)
    assert _contents(found) == [f"long ago we spoke of the {word} at the zoo"]
    assert f"<mark>{word}</mark>" in found["edges"][0]["node"]["snippet"]  # type: ignore[index]


async def test_other_languages_are_found_as_written(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    cid = await _conversation(client, token)
    await _say(engine, user_id, cid, "Wir trafen uns in München am Bahnhof", "Привет мир")
    assert _contents(await _search(client, token, "münchen")) == [
        "Wir trafen uns in München am Bahnhof"
    ]
    assert _contents(await _search(client, token, "мир")) == ["Привет мир"]


async def test_better_matches_rank_first(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    cid = await _conversation(client, token)
    await _say(
        engine, user_id, cid, "a kettle once", "kettle kettle kettle, the kettle", "no match here"
    )
    assert _contents(await _search(client, token, "kettle")) == [
        "kettle kettle kettle, the kettle",
        "a kettle once",
    ]


async def test_html_in_a_message_is_escaped_in_the_snippet(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    cid = await _conversation(client, token)
    await _say(engine, user_id, cid, 'try <script>alert("x")</script> & payload \ue000 here')
    snippet = (await _search(client, token, "payload"))["edges"][0]["node"]["snippet"]  # type: ignore[index]
    assert "<script>" not in snippet
    assert "&lt;script&gt;" in snippet
    assert "&amp;" in snippet
    assert "<mark>payload</mark>" in snippet
    assert snippet.count("<mark>") == 1


async def test_phrases_exclusions_and_or(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    cid = await _conversation(client, token)
    await _say(
        engine,
        user_id,
        cid,
        "the red apple fell",
        "an apple that is red",
        "a green pear",
    )
    assert _contents(await _search(client, token, '"red apple"')) == ["the red apple fell"]
    assert _contents(await _search(client, token, "apple -fell")) == ["an apple that is red"]
    assert sorted(_contents(await _search(client, token, "pear OR fell"))) == [
        "a green pear",
        "the red apple fell",
    ]
    # Unbalanced quotes and stray operators are not errors.
    assert _contents(await _search(client, token, '"green pear')) == ["a green pear"]
    await _search(client, token, "- OR & | !")  # no error


async def test_a_title_match_returns_the_newest_message(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    word = f"holiday{uuid.uuid4().hex[:6]}"
    cid = await _conversation(client, token, f"Plans for the {word}")
    ids = await _say(engine, user_id, cid, "first", "second")
    empty = await _conversation(client, token, f"Nothing said about {word}")
    found = await _search(client, token, word)
    (edge,) = found["edges"]  # type: ignore[misc]
    assert edge["node"]["conversation"]["id"] == str(cid)
    assert edge["node"]["message"]["id"] == ids[-1]
    assert edge["node"]["snippet"] == f"Plans for the <mark>{word}</mark>"
    assert str(empty) not in str(found)


async def test_another_users_messages_and_titles_are_never_found(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    word = f"secret{uuid.uuid4().hex[:6]}"
    cid = await _conversation(client, token, f"my {word} title")
    await _say(engine, user_id, cid, f"my {word} message")
    other = uuid.uuid4()
    other_token = mint_token(other)
    found = await _search(client, other_token, word)
    assert found["edges"] == []
    assert found["pageInfo"]["hasNextPage"] is False  # type: ignore[index]
    # The other user's own match is found alone: nothing of the first user counts or pages.
    theirs = await _conversation(client, other_token)
    await _say(engine, other, theirs, f"their {word}")
    found = await _search(client, other_token, word, first=1)
    assert _contents(found) == [f"their {word}"]
    assert found["pageInfo"]["hasNextPage"] is False  # type: ignore[index]


async def test_pages_follow_the_ranking_without_repeats(
    client: httpx.AsyncClient, engine: AsyncEngine, user_id: uuid.UUID, token: str
) -> None:
    cid = await _conversation(client, token, "tea tea tea")
    await _say(engine, user_id, cid, *(("tea " * (i % 4 + 1)) + f"n{i}" for i in range(9)))
    everything = await _search(client, token, "tea", first=100)
    expected = [
        (e["node"]["message"]["id"], e["node"]["snippet"])
        for e in everything["edges"]  # type: ignore[attr-defined]
    ]
    assert len(expected) == 10  # nine messages and the title
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = await _search(client, token, "tea", first=3, after=after)
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)  # type: ignore[index]
        seen += [(e["node"]["message"]["id"], e["node"]["snippet"]) for e in page["edges"]]  # type: ignore[attr-defined]
        if not page["pageInfo"]["hasNextPage"]:  # type: ignore[index]
            break
        after = page["pageInfo"]["endCursor"]  # type: ignore[index]
    assert seen == expected


async def test_blank_queries_and_bad_cursors_are_bad_input(
    client: httpx.AsyncClient, token: str
) -> None:
    for q in ("", "   ", "x" * 501):
        body = await gql(client, SEARCH, {"q": q}, token=token)
        assert codes(body) == ["BAD_USER_INPUT"], q
    body = await gql(client, SEARCH, {"q": "a", "after": "bm90LWEtY3Vyc29y"}, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_search_needs_a_user(client: httpx.AsyncClient) -> None:
    assert codes(await gql(client, SEARCH, {"q": "a"})) == ["UNAUTHENTICATED"]

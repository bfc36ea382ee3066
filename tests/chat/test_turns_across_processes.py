"""A turn's promises hold across real server processes on one database: a process killed
mid-reply leaves its checkpointed text and has its replies marked `interrupted` by another; a
turn running on one process is rejoined live, watched and stopped from another, over either
broker; and the per-user cap on turns in flight counts every process's turns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chat.fake_provider import STALL_CHUNKS, FakeProvider, reply_to
from tests.chat.test_chat_interruptions import eventually
from tests.chat.ws_client import (
    CHAT,
    CONVERSATION_EVENTS,
    RESUME,
    GraphQLWebSocket,
    SubscriptionError,
)
from tests.ops.serving import Served, serve
from tests.support.graphql import gql, mint_token

REDIS_URL = os.environ.get("REACTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STOP = "mutation($id: UUID!) { stopChat(replyId: $id) { id status content } }"
RENAME = 'mutation($id: UUID!) { renameConversation(id: $id, title: "Watched") { id } }'
# The promise itself: a dead process's replies are marked within this.
INTERRUPTED_WITHIN = 30.0
# Generous upper bounds for what should take a moment, so a failure fails instead of hanging.
BOUND = 20.0
CAP = 4
# A process is taken for dead after this long without a heartbeat.
LEASE_SECONDS = 2


def _config(path: Path, provider: FakeProvider, broker_url: str | None) -> Path:
    base_url = provider.url + "/v1"  # type: ignore[attr-defined]
    aliases = "\n".join(f'{name} = ["fake/{name}"]' for name in ("text", "slow", "stall"))
    broker = f'\n[broker]\nurl = "{broker_url}"\n' if broker_url else ""
    path.write_text(
        f"""
[ai]
default_alias = "text"
max_retries = 0
cooldown_failures = 1000
first_token_timeout = 20
chunk_timeout = 20

[ai.providers.fake]
base_url = "{base_url}"
api_key = "sk-fake"

[ai.aliases]
{aliases}

[chat]
max_turns_in_flight = {CAP}
checkpoint_interval = 0.2
turn_lease_seconds = {LEASE_SECONDS}
{broker}""",
        encoding="utf-8",
    )
    return path


@dataclass
class Cluster:
    """Server processes on one database, and how to start one more like them."""

    a: Served
    b: Served
    config: Path
    directory: Path
    database_url: str

    @contextlib.asynccontextmanager
    async def another(self) -> AsyncIterator[Served]:
        async with serve(self.directory, self.database_url, config=str(self.config)) as served:
            yield served


@contextlib.asynccontextmanager
async def _cluster(
    directory: Path, database_url: str, provider: FakeProvider, broker_url: str | None
) -> AsyncIterator[Cluster]:
    config = _config(directory / "Reactor.toml", provider, broker_url)
    async with (
        serve(directory, database_url, config=str(config)) as a,
        serve(directory, database_url, config=str(config)) as b,
    ):
        yield Cluster(a, b, config, directory, database_url)


@pytest.fixture(scope="module")
async def pg_cluster(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, fake_provider: FakeProvider
) -> AsyncIterator[Cluster]:
    directory = tmp_path_factory.mktemp("pg-cluster")
    async with _cluster(directory, database_url, fake_provider, None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, fake_provider: FakeProvider
) -> AsyncIterator[Cluster]:
    directory = tmp_path_factory.mktemp("redis-cluster")
    async with _cluster(directory, database_url, fake_provider, REDIS_URL) as cluster:
        yield cluster


@pytest.fixture(params=["pg", "redis"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """Two processes A and B relaying through the broker under test."""
    clustered: Cluster = request.getfixturevalue(f"{request.param}_cluster")
    return clustered


async def _conversation(served: Served, token: str) -> str:
    async with httpx.AsyncClient(base_url=served.url, timeout=BOUND) as http:
        body = await gql(http, "mutation { createConversation { id } }", token=token)
    conversation: str = body["data"]["createConversation"]["id"]
    return conversation


async def _call(served: Served, query: str, variables: dict[str, Any], token: str) -> Any:
    async with httpx.AsyncClient(base_url=served.url, timeout=BOUND) as http:
        return await gql(http, query, variables, token=token)


async def _first(ws: GraphQLWebSocket, op_id: str, count: int, key: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async for data in ws.results(op_id):
            events.append(data[key])
            if len(events) == count:
                break
        return events

    return await asyncio.wait_for(read(), BOUND)


async def _rest(ws: GraphQLWebSocket, op_id: str, key: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        return [data[key] async for data in ws.results(op_id)]

    return await asyncio.wait_for(read(), BOUND)


async def _start_turn(served: Served, token: str, variables: dict[str, Any]) -> str:
    """A turn started on `served` (left running when its connection closes): its reply id."""
    async with GraphQLWebSocket(served.url, token) as ws:
        started, *_ = await _first(ws, await ws.start(CHAT, variables), 1, "chat")
    assert started["__typename"] == "ChatStarted"
    reply_id: str = started["replyId"]
    return reply_id


async def _attempt(served: Served, token: str, variables: dict[str, Any]) -> str:
    """STARTED, or the error code the turn was refused with."""
    try:
        await _start_turn(served, token, variables)
    except SubscriptionError as error:
        return str(error.codes[0])
    return "STARTED"


async def _reply(engine: AsyncEngine, reply_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("select content, status, metadata from messages where id = :id"),
            {"id": uuid.UUID(reply_id)},
        )
        return dict(rows.mappings().one())


async def _until_watching(
    served: Served, token: str, conversation: str, watcher: GraphQLWebSocket, watch: str
) -> None:
    """Renames the conversation on `served` until the watcher hears of it: its subscription
    is then live (a rename before it was would be missed)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + BOUND
    while loop.time() < end:
        assert "errors" not in await _call(served, RENAME, {"id": conversation}, token)
        with contextlib.suppress(TimeoutError):
            (event,) = await asyncio.wait_for(_first(watcher, watch, 1, "conversationEvents"), 0.5)
            assert event["__typename"] == "ConversationUpdated"
            return
    raise AssertionError("the watcher never heard of a rename")


async def _messages_seen(watcher: GraphQLWebSocket, watch: str, count: int) -> list[dict[str, Any]]:
    """The next `count` message events (late renames from _until_watching left out)."""

    async def read() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async for data in watcher.results(watch):
            event = data["conversationEvents"]
            if event["__typename"] != "ConversationUpdated":
                events.append(event)
                if len(events) == count:
                    break
        return events

    return await asyncio.wait_for(read(), BOUND)


def _text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["__typename"] in ("TextSnapshot", "TextDelta"))


def _marked_ghosts(served: Served) -> bool:
    return any("left streaming by a stopped process" in line for line in served.lines)


async def test_a_killed_process_leaves_its_checkpoint_and_another_marks_it_interrupted(
    pg_cluster: Cluster, engine: AsyncEngine
) -> None:
    token = mint_token(uuid.uuid4())
    message = " ".join(f"word{i}" for i in range(60))  # a reply of several seconds
    async with pg_cluster.another() as victim:
        conversation = await _conversation(victim, token)
        reply_id = await _start_turn(
            victim, token, {"conversationId": conversation, "message": message, "model": "slow"}
        )
        # The user's other slots, filled on the same process.
        holders = [
            await _start_turn(
                victim, token, {"conversationId": conversation, "message": "hold", "model": "stall"}
            )
            for _ in range(CAP - 1)
        ]

        async def checkpointed() -> str:
            row = await _reply(engine, reply_id)
            assert row["status"] == "streaming", "the reply ended before the kill"
            return str(row["content"])

        # The cap counts the victim's turns on the other process too.
        refused = {"conversationId": conversation, "message": "more", "model": "stall"}
        assert await _attempt(pg_cluster.b, token, refused) == "RATE_LIMITED"
        saved = await eventually(checkpointed, BOUND)
        assert saved, "no checkpoint while the reply streamed"
        victim.process.kill()
        assert await asyncio.wait_for(victim.process.wait(), BOUND) == -9

    async def interrupted() -> bool:
        return bool((await _reply(engine, reply_id))["status"] != "streaming")

    assert await eventually(interrupted, INTERRUPTED_WITHIN)
    row = await _reply(engine, reply_id)
    assert row["status"] == "incomplete"
    assert row["metadata"]["finish_reason"] == "interrupted"
    # At least what was checkpointed before the kill, and nothing that was never sent.
    assert row["content"].startswith(saved)
    assert reply_to(message).startswith(row["content"])
    for holder in holders:
        assert (await _reply(engine, holder))["status"] == "incomplete"
    # Marked by a live process: the victim was dead all along.
    assert victim.process.returncode == -9

    async def marked() -> bool:
        return _marked_ghosts(pg_cluster.a) or _marked_ghosts(pg_cluster.b)

    assert await eventually(marked, BOUND)
    # The user's slots are free again: a new turn starts on a live process.
    fresh = {"conversationId": conversation, "message": "again", "model": "stall"}
    again = await _start_turn(pg_cluster.b, token, fresh)
    stopped = await _call(pg_cluster.b, STOP, {"id": again}, token)
    assert stopped["data"]["stopChat"]["status"] == "INCOMPLETE"


async def test_a_turn_on_one_process_is_rejoined_and_watched_live_from_another(
    cluster: Cluster, engine: AsyncEngine
) -> None:
    token = mint_token(uuid.uuid4())
    conversation = await _conversation(cluster.a, token)
    message = " ".join(f"part{i}" for i in range(30))
    async with GraphQLWebSocket(cluster.b.url, token) as watcher:
        watch = await watcher.start(CONVERSATION_EVENTS, {"conversationId": conversation})

        await _until_watching(cluster.a, token, conversation, watcher, watch)
        variables = {"conversationId": conversation, "message": message, "model": "slow"}
        async with (
            GraphQLWebSocket(cluster.a.url, token) as on_a,
            GraphQLWebSocket(cluster.b.url, token) as on_b,
        ):
            chat = await on_a.start(CHAT, variables)
            started, *_ = await _first(on_a, chat, 3, "chat")
            reply_id = started["replyId"]
            # A's own client reads on meanwhile (a client that stops reading with a backlog
            # waits out its close timeout).
            on_a_rest, resumed = await asyncio.gather(
                _rest(on_a, chat, "chat"),
                _rest(on_b, await on_b.start(RESUME, {"replyId": reply_id}), "resumeChat"),
            )
        watched = await _messages_seen(watcher, watch, 3)
    kinds = [e["__typename"] for e in resumed]
    assert kinds[0] == "TextSnapshot"
    assert kinds[-1] == "ChatCompleted"
    assert set(kinds[1:-1]) == {"TextDelta"}, "B followed the reply live, delta by delta"
    completed = resumed[-1]["message"]
    row = await _reply(engine, reply_id)
    assert (row["status"], completed["status"]) == ("complete", "COMPLETE")
    assert _text_of(resumed) == completed["content"] == row["content"] == reply_to(message)
    ended_on_a = on_a_rest[-1]["message"]
    assert (ended_on_a["id"], ended_on_a["content"]) == (reply_id, completed["content"])
    assert [(e["__typename"], e["message"]["status"]) for e in watched] == [
        ("MessageAdded", "COMPLETE"),
        ("MessageAdded", "STREAMING"),
        ("MessageUpdated", "COMPLETE"),
    ]
    assert watched[0]["message"]["content"] == message
    assert watched[1]["message"]["id"] == watched[2]["message"]["id"] == reply_id
    assert watched[2]["message"]["content"] == reply_to(message)


async def test_a_second_follower_elsewhere_joining_mid_reply_gets_it_exactly(
    cluster: Cluster, engine: AsyncEngine
) -> None:
    """The owner is already publishing to a first follower on B: the second one's watch wakes
    it to send the text so far again, and both end with the reply exactly."""
    token = mint_token(uuid.uuid4())
    conversation = await _conversation(cluster.a, token)
    message = " ".join(f"part{i}" for i in range(30))
    variables = {"conversationId": conversation, "message": message, "model": "slow"}
    async with (
        GraphQLWebSocket(cluster.a.url, token) as on_a,
        GraphQLWebSocket(cluster.b.url, token) as first,
        GraphQLWebSocket(cluster.b.url, token) as second,
    ):
        chat = await on_a.start(CHAT, variables)
        started, *_ = await _first(on_a, chat, 2, "chat")
        reply_id = started["replyId"]
        first_op = await first.start(RESUME, {"replyId": reply_id})
        # The first follower is live (its snapshot and a delta) before the second joins.
        early = await _first(first, first_op, 2, "resumeChat")
        second_op = await second.start(RESUME, {"replyId": reply_id})
        _, first_rest, second_events = await asyncio.gather(
            _rest(on_a, chat, "chat"),
            _rest(first, first_op, "resumeChat"),
            _rest(second, second_op, "resumeChat"),
        )
    row = await _reply(engine, reply_id)
    assert row["content"] == reply_to(message)
    for events in (early + first_rest, second_events):
        assert events[0]["__typename"] == "TextSnapshot"
        assert events[-1]["__typename"] == "ChatCompleted"
        assert _text_of(events) == row["content"]
    # Live, delta by delta (3 characters each), not from the checkpoints (one a second).
    deltas = [e for e in second_events if e["__typename"] == "TextDelta"]
    assert len(deltas) > 20, "the second follower was not sent the live text"


async def test_stop_chat_on_one_process_stops_a_turn_running_on_another(
    cluster: Cluster, engine: AsyncEngine, fake_provider: FakeProvider
) -> None:
    token = mint_token(uuid.uuid4())
    conversation = await _conversation(cluster.a, token)
    message = f"never ending {uuid.uuid4().hex[:8]}"
    variables = {"conversationId": conversation, "message": message, "model": "stall"}
    async with GraphQLWebSocket(cluster.a.url, token) as on_a:
        op_id = await on_a.start(CHAT, variables)
        started, *_ = await _first(on_a, op_id, 1 + len(STALL_CHUNKS), "chat")
        stopped = await _call(cluster.b, STOP, {"id": started["replyId"]}, token)
        rest = await _rest(on_a, op_id, "chat")
    assert stopped["data"]["stopChat"] == {
        "id": started["replyId"],
        "status": "INCOMPLETE",
        "content": "".join(STALL_CHUNKS),
    }
    assert rest[-1]["__typename"] == "ChatCompleted"
    assert rest[-1]["message"]["status"] == "INCOMPLETE"
    row = await _reply(engine, started["replyId"])
    assert row["metadata"]["finish_reason"] == "cancelled"
    # A closed its upstream request.
    assert await eventually(lambda: asyncio.sleep(0, fake_provider.was_closed(message)), BOUND)


async def test_the_cap_on_turns_in_flight_counts_every_process(pg_cluster: Cluster) -> None:
    token = mint_token(uuid.uuid4())
    conversation = await _conversation(pg_cluster.a, token)
    variables = {"conversationId": conversation, "message": "hold", "model": "stall"}
    processes = [pg_cluster.a, pg_cluster.b] * 10
    outcomes = await asyncio.gather(*(_attempt(p, token, variables) for p in processes))
    assert outcomes.count("STARTED") == CAP, outcomes
    assert set(outcomes) == {"STARTED", "RATE_LIMITED"}
    listed = await _call(
        pg_cluster.b,
        "query($id: UUID!) { conversation(id: $id) { messages { edges { node { id status } } } } }",
        {"id": conversation},
        token,
    )
    streaming = [
        e["node"]["id"]
        for e in listed["data"]["conversation"]["messages"]["edges"]
        if e["node"]["status"] == "STREAMING"
    ]
    assert len(streaming) == CAP
    for reply_id in streaming:
        stopped = await _call(pg_cluster.b, STOP, {"id": reply_id}, token)
        assert stopped["data"]["stopChat"]["status"] == "INCOMPLETE", json.dumps(stopped)

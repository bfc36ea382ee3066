"""SIGTERM while subscriptions stream over HTTP: a chat turn (multipart, as Apollo Client
reads it) runs to its end within the grace period and its response completes; a stream that
would never end by itself (conversationEvents over graphql-sse) completes at once, so the
server exits without waiting out the grace period or cancelling anything."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from app.endpoints.http_subscriptions import ends_by_itself
from tests.ops.serving import Served, serve
from tests.support.graphql import gql, mint_token

CHAT = """
subscription Turn($c: UUID!, $m: String!) {
  chat(conversationId: $c, message: $m) {
    __typename
    ... on TextDelta { text }
    ... on ChatCompleted { message { content } }
  }
}
"""
EVENTS = "subscription E($c: UUID!) { conversationEvents(conversationId: $c) { __typename } }"
GRACE_EXCEEDED = "timeout graceful shutdown exceeded"


async def _conversation(http: httpx.AsyncClient, token: str) -> str:
    body = await gql(http, "mutation { createConversation { id } }", token=token)
    conversation_id: str = body["data"]["createConversation"]["id"]
    return conversation_id


def _exited_cleanly(served: Served, code: int) -> None:
    assert code == 0, code
    assert any("Application shutdown complete" in line for line in served.lines), served.lines
    assert not any(GRACE_EXCEEDED in line for line in served.lines), served.lines


async def test_a_turn_streaming_over_multipart_finishes_before_exit(
    tmp_path: Path, database_url: str
) -> None:
    token = mint_token()
    message = " ".join(f"w{i}" for i in range(12))
    async with serve(
        tmp_path, database_url, ai__local_delay_ms="100", server__shutdown_grace_seconds="30"
    ) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            conversation_id = await _conversation(http, token)
            body = ""
            exit_code: asyncio.Task[int] | None = None
            async with http.stream(
                "POST",
                "/graphql",
                json={"query": CHAT, "variables": {"c": conversation_id, "m": message}},
                headers={
                    "accept": 'multipart/mixed;subscriptionSpec="1.0",application/json',
                    "authorization": f"Bearer {token}",
                },
            ) as response:
                async for chunk in response.aiter_text():
                    body += chunk
                    if exit_code is None and "TextDelta" in body:
                        exit_code = asyncio.create_task(served.terminate())
            assert exit_code is not None, body
            code = await exit_code
    _exited_cleanly(served, code)
    assert f'"content":"Echo: {message}"' in body
    assert body.endswith("--graphql--\r\n")


async def test_conversation_events_over_sse_complete_at_shutdown(
    tmp_path: Path, database_url: str
) -> None:
    token = mint_token()
    async with serve(tmp_path, database_url, server__shutdown_grace_seconds="60") as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            conversation_id = await _conversation(http, token)
            async with http.stream(
                "POST",
                "/graphql",
                json={"query": EVENTS, "variables": {"c": conversation_id}},
                headers={"accept": "text/event-stream", "authorization": f"Bearer {token}"},
            ) as response:
                assert response.status_code == 200
                exit_code = asyncio.create_task(served.terminate())
                body = "".join([chunk async for chunk in response.aiter_text()])
            code = await exit_code
    _exited_cleanly(served, code)
    assert body.endswith("event: complete\r\ndata: \r\n\r\n"), body


@pytest.mark.parametrize(
    ("query", "operation_name", "ends"),
    [
        (CHAT, None, True),
        ('subscription { resumeChat(replyId: "r") { __typename } }', None, True),
        (EVENTS, None, False),
        ("mutation { sendMessage { id } }", None, True),
        ("{ __typename }", None, True),
        ("subscription {", None, True),
        (f"{CHAT} {EVENTS}", "E", False),
        (
            'subscription { chat { a } e: conversationEvents(conversationId: "c") { a } }',
            None,
            False,
        ),
    ],
)
def test_which_streams_a_shutdown_lets_finish(
    query: str, operation_name: str | None, ends: bool
) -> None:
    assert ends_by_itself(query, operation_name, max_tokens=2000) is ends

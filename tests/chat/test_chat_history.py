"""What the model sees: the system prompt, then the newest messages in chronological order."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db import messages
from db.session import rls_transaction
from tests.chat.conftest import HISTORY_LIMIT, SYSTEM_PROMPT, unique
from tests.chat.fake_provider import FakeProvider
from tests.chat.ws_client import LEGACY_WS, TRANSPORT_WS, chat_events
from tests.support.server import ServerThread


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_the_model_sees_the_newest_history_in_order(
    chat_server: ServerThread,
    fake_provider: FakeProvider,
    engine: AsyncEngine,
    token: str,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    protocol: str,
) -> None:
    tag = uuid.uuid4().hex
    past = [("user" if n % 2 == 0 else "assistant", f"{tag} past {n}") for n in range(9)]
    async with rls_transaction(engine, {"sub": str(user_id), "role": "authenticated"}) as conn:
        for role, content in past:
            await messages.add(conn, conversation_id, role, content)
    message = unique(f"{tag} now")
    events = await chat_events(
        chat_server.url,
        token,
        {"conversationId": str(conversation_id), "message": message},
        protocol,
    )
    assert events[-1]["__typename"] == "ChatCompleted"

    (body,) = fake_provider.bodies_mentioning(message)
    newest = past[-(HISTORY_LIMIT - 1) :]
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        *({"role": role, "content": content} for role, content in newest),
        {"role": "user", "content": message},
    ]

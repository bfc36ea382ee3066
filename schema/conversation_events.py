"""`conversationEvents`: one conversation, live, on every device."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated
from uuid import UUID

import strawberry

from resolvers import conversation_events as events
from schema.context import Info
from schema.types import Conversation, Message


@strawberry.type(
    description="a message was saved: a user message, or a reply that starts STREAMING"
)
class MessageAdded:
    message: Message


@strawberry.type(description="a message changed: a reply finished (COMPLETE or INCOMPLETE)")
class MessageUpdated:
    message: Message


@strawberry.type(
    description="a rename (by hand or the automatic title), archiving, or the branch shown changed"
)
class ConversationUpdated:
    conversation: Conversation


@strawberry.type
class ConversationDeleted:
    id: UUID


AnyConversationEvent = MessageAdded | MessageUpdated | ConversationUpdated | ConversationDeleted
ConversationEvent = Annotated[AnyConversationEvent, strawberry.union("ConversationEvent")]


def to_event(event: events.ConversationEvent) -> AnyConversationEvent:
    if isinstance(event, events.MessageAdded):
        return MessageAdded(message=Message.of(event.message))
    if isinstance(event, events.MessageUpdated):
        return MessageUpdated(message=Message.of(event.message))
    if isinstance(event, events.ConversationUpdated):
        return ConversationUpdated(conversation=Conversation.of(event.conversation))
    return ConversationDeleted(id=event.id)


@strawberry.type
class ConversationSubscription:
    @strawberry.subscription(
        description=(
            "what happens to one conversation, live, on every device: messages added or"
            " changed, renames, archiving, deletion"
        )
    )
    async def conversation_events(
        self, info: Info, conversation_id: UUID
    ) -> AsyncGenerator[ConversationEvent, None]:
        async with aclosing(events.follow(info.context, conversation_id)) as followed:
            async for event in followed:
                yield to_event(event)

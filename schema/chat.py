"""The chat turn over GraphQL: the `chat` subscription, `sendMessage`, and their event types."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated
from uuid import UUID

import strawberry

from resolvers.chat import rejoin
from resolvers.chat import turn as chat
from resolvers.chat.events import (
    TurnCompleted,
    TurnDelta,
    TurnStarted,
    TurnToolCall,
    TurnToolResult,
)
from resolvers.chat.live import Followed, TurnSnapshot
from schema.context import Info
from schema.types import Message, ToolCall, Usage


@strawberry.type
class ChatStarted:
    user_message: Message = strawberry.field(description="the user message, already saved")
    model: str = strawberry.field(description="the provider/model target that serves this turn")
    reply_id: UUID = strawberry.field(
        description=(
            "the assistant reply this turn writes (status STREAMING until it ends):"
            " for resumeChat and stopChat"
        )
    )


@strawberry.type
class TextSnapshot:
    text: str = strawberry.field(
        description="the reply so far, sent first when a turn is rejoined; TextDeltas continue it"
    )


@strawberry.type
class TextDelta:
    text: str = strawberry.field(
        description="text appended to the assistant reply; all of them joined equal the saved reply"
    )


@strawberry.type
class ToolResult:
    id: str
    name: str
    content: str = strawberry.field(description="JSON text handed back to the model")


@strawberry.type
class ChatCompleted:
    message: Message = strawberry.field(description="the assistant message, already saved")
    usage: Usage | None


AnyChatEvent = ChatStarted | TextSnapshot | TextDelta | ToolCall | ToolResult | ChatCompleted
ChatEvent = Annotated[
    AnyChatEvent,
    strawberry.union(
        "ChatEvent",
        description=(
            "what a chat turn streams, in this order: ChatStarted (TextSnapshot when rejoined),"
            " then TextDelta / ToolCall / ToolResult, then ChatCompleted"
        ),
    ),
]


def to_chat_event(event: Followed) -> AnyChatEvent:
    if type(event) is TurnDelta:
        return TextDelta(text=event.text)
    if isinstance(event, TurnStarted):
        return ChatStarted(
            user_message=Message.of(event.user_message), model=event.model, reply_id=event.reply_id
        )
    if isinstance(event, TurnSnapshot):
        return TextSnapshot(text=event.text)
    if isinstance(event, TurnToolCall):
        return ToolCall(id=event.id, name=event.name, arguments=event.arguments)
    if isinstance(event, TurnToolResult):
        return ToolResult(id=event.id, name=event.name, content=event.content)
    if isinstance(event, TurnCompleted):
        return ChatCompleted(message=Message.of(event.message), usage=Usage.of(event.usage))
    raise TypeError(f"not a turn event: {type(event).__name__}")


@strawberry.type
class ChatMutation:
    @strawberry.mutation(
        description=(
            "the non-streaming chat turn: saves the user message, returns the saved assistant"
            " reply; messageId as on the chat subscription"
        )
    )
    async def send_message(
        self,
        info: Info,
        conversation_id: UUID,
        message: str,
        model: str | None = None,
        parent_id: UUID | None = None,
        message_id: UUID | None = None,
    ) -> Message:
        reply = await chat.send_message(
            info.context, conversation_id, message, model, parent_id, message_id
        )
        return Message.of(reply)

    @strawberry.mutation(
        description=(
            "ends a streaming turn early: the upstream request is closed, the reply so far saved"
            " INCOMPLETE (finishReason cancelled)"
        )
    )
    async def stop_chat(self, info: Info, reply_id: UUID) -> Message:
        return Message.of(await rejoin.stop(info.context, reply_id))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "one chat turn, streamed: saves the user message, streams the reply, saves it."
            " parentId continues from that message instead of the current one: an edit is a"
            " chat whose parentId is the edited message's parent, and makes a new branch."
            " messageId, chosen by the client, is the id the user message is saved under and"
            " makes a retry safe: sending the same messageId again rejoins that turn instead of"
            " starting another (the same id with another conversation or text is CONFLICT)"
        )
    )
    async def chat(
        self,
        info: Info,
        conversation_id: UUID,
        message: str,
        model: str | None = None,
        parent_id: UUID | None = None,
        message_id: UUID | None = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        # Closing this generator (the client left or completed) only detaches: the turn goes
        # on, and its reply is saved; resumeChat rejoins it.
        turn = chat.run_turn(info.context, conversation_id, message, model, parent_id, message_id)
        async with aclosing(turn) as events:
            async for event in events:
                yield to_chat_event(event)

    @strawberry.subscription(
        description="a new reply to the same user message, as a sibling of replyId (a new branch)"
    )
    async def regenerate(
        self, info: Info, reply_id: UUID, model: str | None = None
    ) -> AsyncGenerator[ChatEvent, None]:
        async with aclosing(chat.run_regenerate(info.context, reply_id, model)) as events:
            async for event in events:
                yield to_chat_event(event)

    @strawberry.subscription(
        description=(
            "rejoins a reply from any connection, device or server process: TextSnapshot (the"
            " reply so far), then the live events, then ChatCompleted; a reply that has ended"
            " gives its TextSnapshot and ChatCompleted at once"
        )
    )
    async def resume_chat(self, info: Info, reply_id: UUID) -> AsyncGenerator[ChatEvent, None]:
        async with aclosing(rejoin.resume(info.context, reply_id)) as events:
            async for event in events:
                yield to_chat_event(event)

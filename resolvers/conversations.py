"""Conversations and their messages, as the caller may see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from strawberry.dataloader import DataLoader

from db import conversations as conversation_queries
from db import loaders
from db.errors import BadParent
from db.loaders import MessagesKey
from db.records import ConversationRow, MessageRow
from resolvers.context import RequestContext
from resolvers.conversation_events import CONVERSATION, DELETED, announce
from resolvers.errors import BadUserInput, NotFound
from resolvers.pagination import (
    Page,
    conversation_cursor,
    decode_conversation_cursor,
    decode_message_cursor,
    message_cursor,
    page_size,
)

DEFAULT_TITLE = "New conversation"
MAX_TITLE_CHARS = 200


def clean_title(title: str | None) -> str:
    if title is None:
        return DEFAULT_TITLE
    cleaned = " ".join(title.split())
    if not cleaned:
        raise BadUserInput("A title cannot be empty.", argument="title")
    if len(cleaned) > MAX_TITLE_CHARS:
        raise BadUserInput(f"A title has at most {MAX_TITLE_CHARS} characters.", argument="title")
    return cleaned


async def create(ctx: RequestContext, title: str | None) -> ConversationRow:
    ctx.user_id()
    cleaned = clean_title(title)
    async with ctx.db() as conn:
        return await conversation_queries.create(conn, cleaned)


async def get(ctx: RequestContext, conversation_id: UUID) -> ConversationRow | None:
    ctx.user_id()
    async with ctx.db() as conn:
        return await conversation_queries.get(conn, conversation_id)


async def rename(ctx: RequestContext, conversation_id: UUID, title: str) -> ConversationRow:
    ctx.user_id()
    cleaned = clean_title(title)
    async with ctx.db() as conn:
        row = await conversation_queries.rename(conn, conversation_id, cleaned)
    if row is None:
        raise NotFound("No such conversation.")
    await announce(ctx.services, conversation_id, CONVERSATION)
    return row


async def archive(ctx: RequestContext, conversation_id: UUID, archived: bool) -> ConversationRow:
    ctx.user_id()
    async with ctx.db() as conn:
        row = await conversation_queries.set_archived(conn, conversation_id, archived)
    if row is None:
        raise NotFound("No such conversation.")
    await announce(ctx.services, conversation_id, CONVERSATION)
    return row


async def delete(ctx: RequestContext, conversation_id: UUID) -> bool:
    ctx.user_id()
    async with ctx.db() as conn:
        deleted = await conversation_queries.delete_one(conn, conversation_id)
    if not deleted:
        raise NotFound("No such conversation.")
    # Its replies are gone: their turns stop here and in every other process.
    ctx.services.hub.stop_conversation(conversation_id)
    if ctx.services.relay is not None:
        await ctx.services.relay.stop_conversation_elsewhere(conversation_id)
    await announce(ctx.services, conversation_id, DELETED)
    return True


# A page of messages as a client asked for it: `last` and the `before` cursor it sent;
# and as the query reads it: the page size and the cursor's seq.
MessagesArguments = tuple[int, str | None]
MessagesKeyPart = tuple[int, int | None]


@dataclass(frozen=True)
class ConversationPage:
    """A page of conversations and, read in the same transaction, the message pages the
    query asks of each (by conversation, then by arguments)."""

    page: Page[ConversationRow]
    messages: dict[UUID, dict[MessagesArguments, Page[MessageRow]]]


async def page(
    ctx: RequestContext,
    first: int,
    after: str | None,
    archived: bool = False,
    messages: Sequence[MessagesArguments] = (),
) -> ConversationPage:
    """The caller's conversations; with `messages`, each conversation's messages as well, in
    one transaction and one statement per distinct arguments, as the DataLoader would batch
    them. Arguments that are not valid are left out: the field asking for them says why."""
    ctx.user_id()
    size = page_size(first, "first")
    key = decode_conversation_cursor(after) if after else None
    wanted = _valid(messages)
    async with ctx.db() as conn:
        rows = await conversation_queries.page(conn, first=size, after=key, archived=archived)
        has_previous = key is not None and await conversation_queries.exists_before(
            conn, key, archived=archived
        )
        shown = rows[:size]
        keys = [(r.id, size_, seq) for r in shown for size_, seq in wanted.values()]
        found = await loaders.newest_messages(conn, keys) if keys else []
    items = [(conversation_cursor(r.updated_at, r.id), r) for r in shown]
    pages: dict[UUID, dict[MessagesArguments, Page[MessageRow]]] = {r.id: {} for r in shown}
    for (conversation_id, size_, seq), message_rows in zip(keys, found, strict=True):
        for arguments, parsed in wanted.items():
            if parsed == (size_, seq):
                pages[conversation_id][arguments] = _message_page(message_rows, size_, seq)
    return ConversationPage(
        Page(items=items, has_next_page=len(rows) > size, has_previous_page=has_previous),
        pages,
    )


def _valid(
    messages: Sequence[MessagesArguments],
) -> dict[MessagesArguments, tuple[int, int | None]]:
    """The arguments that parse, with their page size and cursor's seq."""
    parsed = {}
    for last, before in dict.fromkeys(messages):
        try:
            parsed[(last, before)] = (
                page_size(last, "last"),
                decode_message_cursor(before) if before else None,
            )
        except BadUserInput:
            continue
    return parsed


def _message_page(rows: list[MessageRow], size: int, before_seq: int | None) -> Page[MessageRow]:
    items = [(message_cursor(r.seq), r) for r in rows[-size:]]
    return Page(
        items=items, has_next_page=before_seq is not None, has_previous_page=len(rows) > size
    )


async def messages(
    ctx: RequestContext, conversation_id: UUID, last: int, before: str | None
) -> Page[MessageRow]:
    size = page_size(last, "last")
    before_seq = decode_message_cursor(before) if before else None
    rows = await _messages_loader(ctx).load((conversation_id, size, before_seq))
    return _message_page(rows, size, before_seq)


def _messages_loader(ctx: RequestContext) -> DataLoader[MessagesKey, list[MessageRow]]:
    loader = ctx.loaders.get("messages")
    if loader is None:

        async def load(keys: Sequence[MessagesKey]) -> list[list[MessageRow]]:
            async with ctx.db() as conn:
                return await loaders.newest_messages(conn, keys)

        # No cache: a WebSocket context lives for many operations and must not serve stale rows.
        loader = DataLoader(load_fn=load, cache=False)
        ctx.loaders["messages"] = loader
    return loader


async def switch_branch(
    ctx: RequestContext, conversation_id: UUID, message_id: UUID
) -> ConversationRow:
    """Shows the branch through `message_id` (down to its newest descendants); NOT_FOUND when
    the conversation is not the caller's, BAD_USER_INPUT when the message is not in it."""
    ctx.user_id()
    try:
        async with ctx.db() as conn:
            row = await conversation_queries.switch_branch(conn, conversation_id, message_id)
    except BadParent:
        raise BadUserInput(
            "messageId is not a message of this conversation.", argument="messageId"
        ) from None
    if row is None:
        raise NotFound("No such conversation.")
    await announce(ctx.services, conversation_id, CONVERSATION)
    return row


async def fork(ctx: RequestContext, message_id: UUID, title: str | None) -> ConversationRow:
    """A new conversation with a copy of the path that ends at `message_id`; NOT_FOUND when
    the message is not the caller's."""
    ctx.user_id()
    cleaned = None if title is None else clean_title(title)
    async with ctx.db() as conn:
        row = await conversation_queries.fork(conn, message_id, cleaned)
    if row is None:
        raise NotFound("No such message.")
    return row


async def sibling_ids(ctx: RequestContext, message_id: UUID) -> list[UUID]:
    """Every version of the message, oldest first, batched with the others a query asks for."""
    loader = ctx.loaders.get("siblings")
    if loader is None:

        async def load(keys: Sequence[UUID]) -> list[list[UUID]]:
            async with ctx.db() as conn:
                return await loaders.sibling_ids(conn, keys)

        loader = DataLoader(load_fn=load, cache=False)
        ctx.loaders["siblings"] = loader
    found: list[UUID] = await loader.load(message_id)
    return found

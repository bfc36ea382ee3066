"""Queries on conversations. Each takes a connection already inside the caller's RLS transaction,
so a row that is not the caller's is simply not there."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    RowMapping,
    Select,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import BadParent
from db.messages import row_of
from db.records import ConversationRow
from db.tables import conversations, messages

_COLUMNS = (
    conversations.c.id,
    conversations.c.user_id,
    conversations.c.title,
    conversations.c.created_at,
    conversations.c.updated_at,
    conversations.c.current_message_id,
    conversations.c.archived,
)


# page() builds rows by position.
assert [c.name for c in _COLUMNS] == [f.name for f in fields(ConversationRow)]


def _row(row: RowMapping) -> ConversationRow:
    return ConversationRow(**row)


async def create(conn: AsyncConnection, title: str) -> ConversationRow:
    # user_id is left to its column default, the caller's JWT sub.
    result = await conn.execute(insert(conversations).values(title=title).returning(*_COLUMNS))
    return _row(result.mappings().one())


async def get(conn: AsyncConnection, conversation_id: UUID) -> ConversationRow | None:
    result = await conn.execute(select(*_COLUMNS).where(conversations.c.id == conversation_id))
    row = result.mappings().one_or_none()
    return _row(row) if row else None


async def rename(
    conn: AsyncConnection, conversation_id: UUID, title: str
) -> ConversationRow | None:
    result = await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(title=title, updated_at=func.now())
        .returning(*_COLUMNS)
    )
    row = result.mappings().one_or_none()
    return _row(row) if row else None


async def set_archived(
    conn: AsyncConnection, conversation_id: UUID, archived: bool
) -> ConversationRow | None:
    """Archiving leaves updated_at alone: a conversation comes back where it was."""
    result = await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(archived=archived)
        .returning(*_COLUMNS)
    )
    row = result.mappings().one_or_none()
    return _row(row) if row else None


async def delete_one(conn: AsyncConnection, conversation_id: UUID) -> bool:
    result = await conn.execute(
        delete(conversations)
        .where(conversations.c.id == conversation_id)
        .returning(conversations.c.id)
    )
    return result.one_or_none() is not None


def _page_statement(*, after: bool) -> Select[Any]:
    """The statement behind `page()`, built once (with or without a cursor). Parameters:
    archived, limit, and updated_at and id of the cursor."""
    query = (
        select(*_COLUMNS)
        .where(conversations.c.archived == bindparam("archived", type_=Boolean))
        .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    if after:
        cursor = tuple_(
            bindparam("updated_at", type_=DateTime(timezone=True)), bindparam("id", type_=Uuid)
        )
        query = query.where(tuple_(conversations.c.updated_at, conversations.c.id) < cursor)
    return query


_PAGE = _page_statement(after=False)
_PAGE_AFTER = _page_statement(after=True)


async def page(
    conn: AsyncConnection,
    *,
    first: int,
    after: tuple[datetime, UUID] | None,
    archived: bool = False,
) -> list[ConversationRow]:
    """Most recently updated first; keyset on (updated_at, id) so inserts never shift a page.

    Returns up to first + 1 rows: the extra one only tells the caller there is a next page.
    """
    parameters: dict[str, Any] = {"archived": archived, "limit": first + 1}
    if after is None:
        result = await conn.execute(_PAGE, parameters)
    else:
        parameters["updated_at"], parameters["id"] = after
        result = await conn.execute(_PAGE_AFTER, parameters)
    # Plain rows in _COLUMNS order, which is ConversationRow's.
    return [ConversationRow(*r) for r in result]


async def exists_before(
    conn: AsyncConnection, key: tuple[datetime, UUID], *, archived: bool = False
) -> bool:
    """Whether any conversation of the same list sorts before the cursor: hasPreviousPage
    for forward paging."""
    updated_at, id_ = key
    query = select(conversations.c.id).where(
        conversations.c.archived == archived,
        or_(
            conversations.c.updated_at > updated_at,
            and_(conversations.c.updated_at == updated_at, conversations.c.id > id_),
        ),
    )
    result = await conn.execute(query.limit(1))
    return result.first() is not None


# From the message down to the deepest message below it, each step to the newest child.
_SWITCH_BRANCH = text("""
    with recursive down as (
      select m.id, 0 as depth from messages m
        where m.id = :message_id and m.conversation_id = :conversation_id
      union all
      select child.id, down.depth + 1 from down cross join lateral (
        select n.id from messages n where n.parent_id = down.id
        order by n.created_at desc, n.seq desc limit 1
      ) child
    )
    update conversations
      set current_message_id = (select id from down order by depth desc limit 1)
      where id = :conversation_id and exists (select 1 from down)
      returning id, user_id, title, created_at, updated_at, current_message_id
""")

# A path is at most this long: a fork copies it whole.
_WHOLE_PATH = 2_147_483_647


async def switch_branch(
    conn: AsyncConnection, conversation_id: UUID, message_id: UUID
) -> ConversationRow | None:
    """Shows the branch through `message_id`: its current message becomes the deepest message
    below `message_id` reached by always taking the newest child (`message_id` itself when
    nothing follows it). None when the conversation is not the caller's; BadParent when the
    message is not in it."""
    if await get(conn, conversation_id) is None:
        return None
    result = await conn.execute(
        _SWITCH_BRANCH, {"conversation_id": conversation_id, "message_id": message_id}
    )
    row = result.mappings().one_or_none()
    if row is None:
        raise BadParent
    return _row(row)


async def fork(
    conn: AsyncConnection, message_id: UUID, title: str | None
) -> ConversationRow | None:
    """A new conversation holding a copy of the path that ends at `message_id` (a reply still
    streaming is copied as it stands, incomplete), titled `title` or as its source is. None
    when the message is not the caller's."""
    result = await conn.execute(
        text("select * from branch_path(:tip, :whole)"), {"tip": message_id, "whole": _WHOLE_PATH}
    )
    path = [row_of(r) for r in result.mappings()]
    if not path:
        return None
    source = await get(conn, path[0].conversation_id)
    assert source is not None  # its message is visible, so it is
    created = await create(conn, title if title is not None else source.title)
    ids = [uuid4() for _ in path]
    copies: list[dict[str, Any]] = [
        {
            "id": new_id,
            "conversation_id": created.id,
            "role": row.role,
            "content": row.content,
            "metadata": row.metadata,
            "status": "incomplete" if row.status == "streaming" else row.status,
            "created_at": row.created_at,
            "parent_id": parent_id,
        }
        for row, new_id, parent_id in zip(path, ids, [None, *ids[:-1]], strict=True)
    ]
    await conn.execute(insert(messages).values(copies))
    updated = await conn.execute(
        update(conversations)
        .where(conversations.c.id == created.id)
        .values(current_message_id=ids[-1])
        .returning(*_COLUMNS)
    )
    return _row(updated.mappings().one())


async def title_if_default(
    conn: AsyncConnection, conversation_id: UUID, title: str, default: str
) -> bool:
    """Sets the title only where it is still `default`, in one statement: a title the user
    chose meanwhile stands. Whether it was set."""
    result = await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.title == default)
        .values(title=title)
        .returning(conversations.c.id)
    )
    return result.one_or_none() is not None

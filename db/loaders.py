"""The batch queries behind the resolvers' DataLoaders: each answers every key a DataLoader
gathered in one go, in as few statements as it can, with the rows per key in key order."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from db import messages
from db.records import MessageRow

MessagesKey = tuple[UUID, int, int | None]  # conversation, last, before


async def newest_messages(
    conn: AsyncConnection, keys: Sequence[MessagesKey]
) -> list[list[MessageRow]]:
    """One statement per distinct (last, before) among the keys: one for a whole page of
    conversations asking for their newest messages."""
    groups: dict[tuple[int, int | None], list[UUID]] = {}
    for conversation_id, last, before in keys:
        groups.setdefault((last, before), []).append(conversation_id)
    found: dict[MessagesKey, list[MessageRow]] = {}
    for (last, before), ids in groups.items():
        rows = await messages.newest(conn, ids, last=last, before=before)
        for conversation_id in ids:
            found[(conversation_id, last, before)] = rows[conversation_id]
    return [found[key] for key in keys]


async def sibling_ids(conn: AsyncConnection, keys: Sequence[UUID]) -> list[list[UUID]]:
    """Every version of each message, oldest first: one statement for all the keys."""
    found = await messages.sibling_ids(conn, list(dict.fromkeys(keys)))
    return [found[key] for key in keys]

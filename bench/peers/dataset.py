"""The read benchmarks' data, loaded straight into a migrated database: USERS users, each with
CONVERSATIONS conversations of MESSAGES messages (a single branch, user and assistant in
turn), the newest conversation first. Ids are derived from the numbers, so every run and
every server reads the same rows."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg

USERS = 50
CONVERSATIONS = 100
MESSAGES = 20

# As the login role (the owner, a superuser here): row-level security does not apply to the
# load, and `replica` skips the triggers (search indexing, updated_at bumps) and the foreign
# key checks that would make 100,000 rows take minutes; the rows are consistent by
# construction and updated_at is set explicitly.
_LOAD = f"""
set session_replication_role = replica;
insert into auth.users (id, email, password_hash)
  select md5('u' || u)::uuid, 'reader' || u || '@example.com', 'not a hash'
  from generate_series(1, {USERS}) u;
insert into conversations (id, user_id, title, created_at, updated_at, current_message_id)
  select md5('c' || u || '-' || c)::uuid, md5('u' || u)::uuid, 'Conversation ' || c,
         now() - c * interval '1 hour', now() - c * interval '1 minute',
         md5('m' || u || '-' || c || '-' || {MESSAGES})::uuid
  from generate_series(1, {USERS}) u, generate_series(1, {CONVERSATIONS}) c;
insert into messages (id, conversation_id, role, content, created_at, parent_id)
  select md5('m' || u || '-' || c || '-' || m)::uuid, md5('c' || u || '-' || c)::uuid,
         case when m % 2 = 1 then 'user' else 'assistant' end,
         'Message ' || m || ' of conversation ' || c || ': ' || repeat('some words ', 8),
         now() - c * interval '1 hour' + m * interval '1 second',
         case when m > 1 then md5('m' || u || '-' || c || '-' || (m - 1))::uuid end
  from generate_series(1, {USERS}) u, generate_series(1, {CONVERSATIONS}) c,
       generate_series(1, {MESSAGES}) m
  order by u, c, m;
set session_replication_role = origin;
analyze;
"""  # noqa: S608 - the numbers above, no input


def user_id(n: int) -> uuid.UUID:
    """The id of user `n` (1 to USERS), as the load made it."""
    return uuid.UUID(hashlib.md5(f"u{n}".encode(), usedforsecurity=False).hexdigest())


def load(url: str) -> None:
    """Fills the database at `url` (migrated, empty)."""

    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(_LOAD)
        finally:
            await conn.close()

    asyncio.run(go())

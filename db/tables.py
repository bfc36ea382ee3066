"""Every table the queries build on, in one place; the migrations in alembic/ are the source of
truth (FetchedValue marks the defaults they give: ids, owners, timestamps, order).

Two MetaData: `metadata` for the public schema, which requests reach under row-level security,
and `auth_metadata` for the auth schema, which only the login role touches.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    FetchedValue,
    ForeignKey,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=FetchedValue()),
    Column("user_id", Uuid, nullable=False, server_default=FetchedValue()),
    Column("title", Text, nullable=False, server_default=FetchedValue()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
    # The end of the branch shown (migration 0011).
    Column("current_message_id", Uuid, nullable=True),
    # Archived conversations leave the default list (migration 0010); search still finds them.
    Column("archived", Boolean, nullable=False, server_default=FetchedValue()),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=FetchedValue()),
    Column("conversation_id", Uuid, ForeignKey("conversations.id"), nullable=False),
    Column("role", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
    # Insertion order: timestamps tie within a transaction, seq never does.
    Column("seq", BigInteger, nullable=False, server_default=FetchedValue()),
    Column("metadata", JSONB, nullable=False, server_default=FetchedValue()),
    Column("status", Text, nullable=False, server_default=FetchedValue()),
    # The message this one follows (migration 0011): a conversation's messages form a tree.
    Column("parent_id", Uuid, ForeignKey("messages.id"), nullable=True),
)

# A turn in flight (migration 0009): the per-user cap counts these; a process's heartbeat in
# turn_processes keeps its turns from being swept as ghosts.
chat_turns = Table(
    "chat_turns",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=FetchedValue()),
    Column("user_id", Uuid, nullable=False, server_default=FetchedValue()),
    Column("process_id", Uuid, nullable=False),
    Column("reply_id", Uuid, ForeignKey("messages.id"), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
)

turn_processes = Table(
    "turn_processes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=FetchedValue()),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=FetchedValue()),
    Column("price", Numeric(12, 2), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
)

auth_metadata = MetaData(schema="auth")

users = Table(
    "users",
    auth_metadata,
    Column("id", Uuid, primary_key=True, server_default=FetchedValue()),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
)

sessions = Table(
    "sessions",
    auth_metadata,
    Column("id", Uuid, primary_key=True, server_default=FetchedValue()),
    Column("user_id", Uuid, ForeignKey(users.c.id), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", Text),
)

# Only SHA-256 digests of refresh tokens: a copy of the table lets no one refresh.
refresh_tokens = Table(
    "refresh_tokens",
    auth_metadata,
    Column("id", BigInteger, primary_key=True, server_default=FetchedValue()),
    Column("session_id", Uuid, ForeignKey(sessions.c.id), nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    Column("parent_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
    Column("used_at", DateTime(timezone=True)),
)

sign_in_failures = Table(
    "sign_in_failures",
    auth_metadata,
    Column("id", BigInteger, primary_key=True, server_default=FetchedValue()),
    Column("key_hash", LargeBinary, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
)

sign_up_attempts = Table(
    "sign_up_attempts",
    auth_metadata,
    Column("id", BigInteger, primary_key=True, server_default=FetchedValue()),
    Column("key_hash", LargeBinary, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=FetchedValue()),
)

"""Table definitions for query building; the migrations in alembic/ are the source of truth
(FetchedValue marks the defaults they give: ids, owners, timestamps, order)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    FetchedValue,
    ForeignKey,
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

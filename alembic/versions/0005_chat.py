"""Chat turns: tool messages, the product catalogue, and the hourly message ledger.

- `messages.role` also takes 'tool': an assistant message that calls tools keeps its calls in
  `metadata.tool_calls`, and each result is a 'tool' message with `metadata.tool_call_id`;
- `products`: the catalogue `search_products` reads; every signed-in user may read it, only the
  login role (the `reactor-chat products import` command) writes it;
- `message_ledger`: one row per chat message a user sends, counted by the per-user hourly limit.
  A ledger rather than a count of `messages`: deleting a conversation deletes its messages,
  and must not hand back the hour's allowance. Users may add and read their own rows only.

Revision ID: 0005
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("alter table messages drop constraint messages_role_check")
    op.execute(
        "alter table messages add constraint messages_role_check"
        " check (role in ('user', 'assistant', 'system', 'tool'))"
    )

    op.execute("""
        create table products (
          id uuid primary key default gen_random_uuid(),
          name text not null check (length(name) between 1 and 500),
          description text not null default '',
          price numeric(12, 2) check (price >= 0),
          created_at timestamptz not null default now()
        )
    """)
    op.execute("create index products_name_idx on products (name)")
    op.execute("alter table products enable row level security")
    op.execute("alter table products force row level security")
    op.execute(
        "create policy products_readable on products for select to authenticated using (true)"
    )
    op.execute("grant select on products to authenticated")

    op.execute("""
        create table message_ledger (
          user_id uuid not null default request_user_id(),
          created_at timestamptz not null default now()
        )
    """)
    op.execute("create index message_ledger_user_time_idx on message_ledger (user_id, created_at)")
    op.execute("alter table message_ledger enable row level security")
    op.execute("alter table message_ledger force row level security")
    op.execute("""
        create policy message_ledger_read_own on message_ledger for select to authenticated
          using (user_id = (select request_user_id()))
    """)
    op.execute("""
        create policy message_ledger_add_own on message_ledger for insert to authenticated
          with check (user_id = (select request_user_id()))
    """)
    # Only rows that no longer count may go: pruning can never restore an allowance.
    op.execute("""
        create policy message_ledger_prune_own on message_ledger for delete to authenticated
          using (user_id = (select request_user_id()) and created_at < now() - interval '1 day')
    """)
    op.execute("grant select, insert, delete on message_ledger to authenticated")


def downgrade() -> None:
    op.execute("drop table message_ledger")
    op.execute("drop table products")
    # Tool messages cannot exist under the seed's check; they only mean something to this code.
    op.execute("delete from messages where role = 'tool'")
    op.execute("alter table messages drop constraint messages_role_check")
    op.execute(
        "alter table messages add constraint messages_role_check"
        " check (role in ('user', 'assistant', 'system'))"
    )

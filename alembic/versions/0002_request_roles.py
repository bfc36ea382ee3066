"""Request roles, grants and the data API's additions to the seed.

- roles `anon` and `authenticated` (no login, no bypass); the login role may switch to them;
- `authenticated` may read and write conversations and messages, always through RLS;
- FORCE ROW LEVEL SECURITY, so not even the tables' owner reads around the policies;
- `conversations.user_id` defaults to the JWT's sub: a client creates one with only a title;
- `messages.seq` orders messages exactly (timestamps tie inside a transaction) and
  `messages.metadata` keeps what served a reply;
- adding a message bumps its conversation's `updated_at`.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Roles are cluster-wide: another database on the same server may have made them already,
# possibly at this very moment.
_CREATE_ROLE = """
do $$ begin
  create role {name} nologin noinherit nobypassrls;
exception when duplicate_object or unique_violation then null;
end $$
"""


def upgrade() -> None:
    for role in ("anon", "authenticated"):
        op.execute(_CREATE_ROLE.format(name=role))
        op.execute(f"grant {role} to current_user")
    op.execute("grant usage on schema public to anon, authenticated")

    # The subject of the request's JWT, or null without one. The setting is '' rather than
    # null on a connection where an earlier transaction set it locally.
    op.execute("""
        create function request_user_id() returns uuid
        language sql stable
        as $$
          select (nullif(current_setting('request.jwt.claims', true), '')::json->>'sub')::uuid
        $$
    """)
    op.execute("alter table conversations alter column user_id set default request_user_id()")

    op.execute("alter table messages add column seq bigint generated always as identity")
    op.execute("alter table messages add column metadata jsonb not null default '{}'::jsonb")
    op.execute("create index messages_conversation_seq_idx on messages (conversation_id, seq)")

    op.execute("""
        create function bump_conversation_updated_at() returns trigger
        language plpgsql
        as $$
        begin
          update conversations set updated_at = now() where id = new.conversation_id;
          return new;
        end
        $$
    """)
    op.execute("""
        create trigger messages_bump_conversation after insert on messages
        for each row execute function bump_conversation_updated_at()
    """)

    op.execute("alter table conversations force row level security")
    op.execute("alter table messages force row level security")
    op.execute("grant select, insert, update, delete on conversations, messages to authenticated")


def downgrade() -> None:
    op.execute("revoke all on conversations, messages from authenticated")
    op.execute("alter table messages no force row level security")
    op.execute("alter table conversations no force row level security")
    op.execute("drop trigger messages_bump_conversation on messages")
    op.execute("drop function bump_conversation_updated_at()")
    op.execute("drop index messages_conversation_seq_idx")
    op.execute("alter table messages drop column metadata")
    op.execute("alter table messages drop column seq")
    op.execute("alter table conversations alter column user_id drop default")
    op.execute("drop function request_user_id()")
    op.execute("revoke usage on schema public from anon, authenticated")
    # The roles stay: they are cluster-wide and other databases may rely on them.

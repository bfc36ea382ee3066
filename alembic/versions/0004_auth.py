"""Auth: users, sessions, rotating refresh tokens and sign-in failures in schema `auth`.

The request roles (`anon`, `authenticated`) get nothing here: not even usage on the schema,
so no query a client can shape reaches a password hash or a token hash. Only the login role,
through `service_transaction`, reads and writes these tables. RLS is enabled without policies
as a second lock: should a grant ever slip in, a request role would still see no row.

- `users`: one per email (stored normalised), the argon2id hash of the password;
- `sessions`: one per sign-in; `expires_at` slides forward on each refresh; `revoked_at` ends it
  (sign-out, or a refresh token presented twice);
- `refresh_tokens`: the SHA-256 of each opaque token, never the token; `parent_id` chains a
  rotation, `used_at` marks the one-time use;
- `sign_in_failures`: recent failed attempts per hashed key (email or client address), shared
  by every server process.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("users", "sessions", "refresh_tokens", "sign_in_failures")


def upgrade() -> None:
    op.execute("create schema auth")
    op.execute("revoke all on schema auth from public, anon, authenticated")
    op.execute("""
        create table auth.users (
          id uuid primary key default gen_random_uuid(),
          email text not null,
          password_hash text not null,
          created_at timestamptz not null default now(),
          constraint users_email_key unique (email)
        )
    """)
    op.execute("""
        create table auth.sessions (
          id uuid primary key default gen_random_uuid(),
          user_id uuid not null references auth.users (id) on delete cascade,
          created_at timestamptz not null default now(),
          expires_at timestamptz not null,
          revoked_at timestamptz,
          revoked_reason text
        )
    """)
    op.execute("create index sessions_user_id_idx on auth.sessions (user_id)")
    op.execute("""
        create table auth.refresh_tokens (
          id bigint generated always as identity primary key,
          session_id uuid not null references auth.sessions (id) on delete cascade,
          token_hash bytea not null,
          parent_id bigint references auth.refresh_tokens (id) on delete cascade,
          created_at timestamptz not null default now(),
          used_at timestamptz,
          constraint refresh_tokens_token_hash_key unique (token_hash)
        )
    """)
    op.execute("create index refresh_tokens_session_id_idx on auth.refresh_tokens (session_id)")
    op.execute("""
        create table auth.sign_in_failures (
          id bigint generated always as identity primary key,
          key_hash bytea not null,
          at timestamptz not null default clock_timestamp()
        )
    """)
    op.execute("create index sign_in_failures_key_at_idx on auth.sign_in_failures (key_hash, at)")
    op.execute("create index sign_in_failures_at_idx on auth.sign_in_failures (at)")
    for table in _TABLES:
        op.execute(f"revoke all on auth.{table} from public, anon, authenticated")
        op.execute(f"alter table auth.{table} enable row level security")


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f"drop table auth.{table}")
    op.execute("drop schema auth")

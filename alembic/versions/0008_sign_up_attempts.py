"""Sign-ups per client address: `auth.sign_up_attempts`, for the hourly limit.

One row per sign-up attempt that passed input validation, keyed by the SHA-256 of the client
address (or of its IPv6 /64), so the table does not collect addresses; rows older than the
hour are deleted as new ones arrive. Like the other auth tables: no privilege for the request
roles, row-level security with the policy of 0006 admitting every other role.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_A_REQUEST_ROLE = "current_user not in ('anon', 'authenticated')"


def upgrade() -> None:
    op.execute("""
        create table auth.sign_up_attempts (
          id bigint generated always as identity primary key,
          key_hash bytea not null,
          at timestamptz not null default clock_timestamp()
        )
    """)
    op.execute("create index sign_up_attempts_key_at_idx on auth.sign_up_attempts (key_hash, at)")
    op.execute("create index sign_up_attempts_at_idx on auth.sign_up_attempts (at)")
    op.execute("revoke all on auth.sign_up_attempts from public, anon, authenticated")
    op.execute("alter table auth.sign_up_attempts enable row level security")
    op.execute(
        "create policy service_roles_only on auth.sign_up_attempts for all"
        f" using ({_NOT_A_REQUEST_ROLE}) with check ({_NOT_A_REQUEST_ROLE})"
    )


def downgrade() -> None:
    op.execute("drop table auth.sign_up_attempts")

"""Joins the auth (0004) and chat (0005) branches, and lets a login role use the auth tables.

0004 enabled row-level security on the auth tables with no policy, as a second lock behind
the grants: that leaves them to their owner and superusers only, so a production login role
(docs/deploy.md: not the owner, not a superuser) could not sign anyone up. The policy here
admits every role except the two request roles, which keeps the second lock where it matters.

Revision ID: 0006
Revises: 0004, 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTH_TABLES = ("users", "sessions", "refresh_tokens", "sign_in_failures")
_NOT_A_REQUEST_ROLE = "current_user not in ('anon', 'authenticated')"


def upgrade() -> None:
    for table in AUTH_TABLES:
        op.execute(
            f"create policy service_roles_only on auth.{table} for all"
            f" using ({_NOT_A_REQUEST_ROLE}) with check ({_NOT_A_REQUEST_ROLE})"
        )


def downgrade() -> None:
    for table in AUTH_TABLES:
        op.execute(f"drop policy service_roles_only on auth.{table}")

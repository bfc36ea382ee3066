"""`turn_service`: the role the serving processes become for their durable-turn bookkeeping.

Heartbeats in `turn_processes`, ghost sweeps and the batched checkpoints run across users, so
no request role may do them; 0009 left them to the login role, which in production
(docs/deploy.md) is granted only the request roles and the auth tables. A `NOLOGIN` role
granted exactly what that bookkeeping touches keeps the login role's own rights as they were:
its transactions `SET LOCAL ROLE turn_service` (`db/session.py`).

- `turn_processes`: read, beat (insert, update) and forget (delete);
- `chat_turns`: read (the checkpoints' join, the sweep's returning) and delete (the sweep);
- `messages`: read, and update of `content`, `status` and `metadata` only (checkpoints and
  marking ghosts `incomplete`);
- `conversations`: read of `id` and `user_id` only, which `messages_via_conversation` (a
  policy of every role) reads in its subquery; `conversations_owner` shows a role without
  claims no row, so it reads no conversation.

The policies `service_roles_only` (turn_processes, chat_turns) and `messages_turn_service`
already admit any role but `anon` and `authenticated`.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Roles are cluster-wide: another database on the same server may have made it already,
# possibly at this very moment (as 0002 does for the request roles).
_CREATE_ROLE = """
do $$ begin
  create role turn_service nologin noinherit nobypassrls;
exception when duplicate_object or unique_violation then null;
end $$
"""

_GRANTS = (
    "grant usage on schema public to turn_service",
    "grant select, insert, update, delete on turn_processes to turn_service",
    "grant select, delete on chat_turns to turn_service",
    "grant select (id, user_id) on conversations to turn_service",
    "grant select, update (content, status, metadata) on messages to turn_service",
)


def upgrade() -> None:
    op.execute(_CREATE_ROLE)
    # The migrating role may become it, as it may the request roles: in development the one
    # login role both migrates and serves.
    op.execute("grant turn_service to current_user")
    for grant in _GRANTS:
        op.execute(grant)


def downgrade() -> None:
    # The role stays, as anon and authenticated do: other databases on the server may use it.
    op.execute(
        "revoke all on turn_processes, chat_turns, conversations, messages from turn_service"
    )
    op.execute("revoke usage on schema public from turn_service")

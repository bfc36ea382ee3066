"""Index-friendly RLS: the same policies, the claim read once per statement.

The seed's policies call current_setting(...)::json for every row and conversations has no
index on user_id, so each request scanned every user's conversations. Wrapping the claim in
`(select ...)` makes it an InitPlan evaluated once, and the new index turns the scan into an
index range over the caller's rows. Plans before and after: docs/database.md.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEED_CLAIM = "(current_setting('request.jwt.claims', true)::json->>'sub')::uuid"


def upgrade() -> None:
    op.execute(
        "create index conversations_user_id_updated_at_idx"
        " on conversations (user_id, updated_at desc, id desc)"
    )
    op.execute("drop policy conversations_owner on conversations")
    op.execute("""
        create policy conversations_owner on conversations
          for all
          using (user_id = (select request_user_id()))
    """)
    op.execute("drop policy messages_via_conversation on messages")
    op.execute("""
        create policy messages_via_conversation on messages
          for all
          using (conversation_id in (
            select id from conversations where user_id = (select request_user_id())
          ))
    """)


def downgrade() -> None:
    op.execute("drop policy messages_via_conversation on messages")
    seed_subquery = f"select id from conversations where user_id = {_SEED_CLAIM}"  # noqa: S608
    op.execute(
        "create policy messages_via_conversation on messages"
        f" for all using (conversation_id in ({seed_subquery}))"
    )
    op.execute("drop policy conversations_owner on conversations")
    op.execute(
        "create policy conversations_owner on conversations"
        f" for all using (user_id = {_SEED_CLAIM})"
    )
    op.execute("drop index conversations_user_id_updated_at_idx")

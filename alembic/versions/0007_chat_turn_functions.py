"""The hourly message limit and a chat turn's opening, as functions: one round trip each.

`admit_message(per_hour)` takes the caller's advisory lock, then counts (a statement of its
own, so it sees every entry committed by whoever held the lock before) and records the
message or refuses with SQLSTATE RL429, its DETAIL the seconds until a slot frees.
`open_chat_turn(...)` checks the conversation (RX404 when the caller cannot see it), admits
the message, saves it, and returns the newest `history_limit` messages oldest first, the
new one last. Both run as the caller (SECURITY INVOKER), so row-level security holds for
every statement in them, and a refusal rolls everything back.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        create function admit_message(per_hour integer) returns void
        language plpgsql volatile security invoker
        as $$
        declare
          caller uuid := request_user_id();
          window_start timestamptz := now() - interval '1 hour';
          entries timestamptz[];
        begin
          perform pg_advisory_xact_lock(hashtextextended('message_ledger:' || caller::text, 0));
          select coalesce(array_agg(created_at order by created_at), '{}') into entries
            from message_ledger where user_id = caller and created_at > window_start;
          if cardinality(entries) >= per_hour then
            raise exception 'message limit reached' using
              errcode = 'RL429',
              detail = greatest(1, ceil(extract(epoch from
                entries[cardinality(entries) - per_hour + 1] + interval '1 hour' - now())))::text;
          end if;
          delete from message_ledger
            where user_id = caller and created_at < now() - interval '1 day';
          insert into message_ledger (user_id) values (caller);
        end
        $$
    """)
    op.execute("""
        create function open_chat_turn(
          conversation uuid, content text, per_hour integer, history_limit integer
        ) returns setof messages
        language plpgsql volatile security invoker
        as $$
        begin
          if not exists (select 1 from conversations where id = conversation) then
            raise exception 'no such conversation' using errcode = 'RX404';
          end if;
          perform admit_message(per_hour);
          insert into messages (conversation_id, role, content)
            values (conversation, 'user', content);
          return query
            select * from (
              select * from messages m where m.conversation_id = conversation
              order by m.seq desc limit history_limit
            ) newest order by newest.seq;
        end
        $$
    """)
    for signature in ("admit_message(integer)", "open_chat_turn(uuid, text, integer, integer)"):
        op.execute(f"revoke all on function {signature} from public")
        op.execute(f"grant execute on function {signature} to authenticated")


def downgrade() -> None:
    op.execute("drop function open_chat_turn(uuid, text, integer, integer)")
    op.execute("drop function admit_message(integer)")

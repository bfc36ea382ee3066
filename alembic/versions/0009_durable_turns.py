"""Durable chat turns: a reply's status, the turns in flight, and the processes running them.

- `messages.status`: `complete`, `streaming` (an assistant reply still being written; its
  content is the last checkpoint) or `incomplete` (it ended early). Existing rows are complete.
- `chat_turns`: one row per turn in flight (a chat reply, or an `/ai/v1` call with no reply
  row), with the process running it. The per-user cap counts these rows under the same
  advisory lock as the hourly limit, so it is exact across processes.
- `turn_processes`: each server process's heartbeat. A turn whose process stopped beating is
  a ghost: a live process marks its reply `incomplete` (`interrupted`) and removes the row.
- `open_chat_turn` now also admits the turn under the cap and creates the reply row
  (`streaming`, empty), returned after the history.

Request roles reach `chat_turns` for their own rows only; the processes' bookkeeping
(heartbeats, sweeping ghosts across users) is the login role's, as for the auth tables.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_A_REQUEST_ROLE = "current_user not in ('anon', 'authenticated')"

_BEGIN_TURN = """
    create function begin_turn(max_in_flight integer, process uuid, reply uuid)
    returns uuid
    language plpgsql volatile security invoker
    as $$
    declare
      caller uuid := request_user_id();
      turn uuid;
    begin
      -- The lock admit_message takes too: one admission at a time per user, in any process.
      perform pg_advisory_xact_lock(hashtextextended('message_ledger:' || caller::text, 0));
      if (select count(*) from chat_turns where user_id = caller) >= max_in_flight then
        raise exception 'turns in flight' using errcode = 'RT429', detail = '5';
      end if;
      insert into chat_turns (user_id, process_id, reply_id) values (caller, process, reply)
        returning id into turn;
      return turn;
    end
    $$
"""

_OPEN_CHAT_TURN = """
    create function open_chat_turn(
      conversation uuid, content text, per_hour integer, history_limit integer,
      max_in_flight integer, process uuid
    ) returns setof messages
    language plpgsql volatile security invoker
    as $$
    declare
      reply uuid := gen_random_uuid();
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
      insert into messages (id, conversation_id, role, content, status)
        values (reply, conversation, 'assistant', '', 'streaming');
      perform begin_turn(max_in_flight, process, reply);
      return query select * from messages where id = reply;
    end
    $$
"""

_OLD_OPEN_CHAT_TURN = """
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
"""


def upgrade() -> None:
    op.execute(
        "alter table messages add column status text not null default 'complete'"
        " check (status in ('complete', 'streaming', 'incomplete'))"
    )
    op.execute("create index messages_streaming_idx on messages (id) where status = 'streaming'")
    # A process's bookkeeping updates replies across users: the login role may, request roles
    # keep to their own through messages_via_conversation.
    op.execute(
        f"create policy messages_turn_service on messages for all"
        f" using ({_NOT_A_REQUEST_ROLE}) with check ({_NOT_A_REQUEST_ROLE})"
    )

    op.execute("""
        create table turn_processes (
          id uuid primary key,
          heartbeat_at timestamptz not null default now()
        )
    """)
    op.execute("""
        create table chat_turns (
          id uuid primary key default gen_random_uuid(),
          user_id uuid not null default request_user_id(),
          process_id uuid not null,
          reply_id uuid references messages (id) on delete cascade,
          started_at timestamptz not null default now()
        )
    """)
    op.execute("create index chat_turns_user_idx on chat_turns (user_id)")
    op.execute("create index chat_turns_process_idx on chat_turns (process_id)")
    op.execute("create unique index chat_turns_reply_idx on chat_turns (reply_id)")
    for table in ("turn_processes", "chat_turns"):
        op.execute(f"alter table {table} enable row level security")
        op.execute(f"alter table {table} force row level security")
        op.execute(
            f"create policy service_roles_only on {table} for all"
            f" using ({_NOT_A_REQUEST_ROLE}) with check ({_NOT_A_REQUEST_ROLE})"
        )
    op.execute("""
        create policy chat_turns_own on chat_turns for all to authenticated
          using (user_id = (select request_user_id()))
          with check (user_id = (select request_user_id()))
    """)
    op.execute("grant select, insert, delete on chat_turns to authenticated")

    op.execute(_BEGIN_TURN)
    op.execute("drop function open_chat_turn(uuid, text, integer, integer)")
    op.execute(_OPEN_CHAT_TURN)
    for signature in (
        "begin_turn(integer, uuid, uuid)",
        "open_chat_turn(uuid, text, integer, integer, integer, uuid)",
    ):
        op.execute(f"revoke all on function {signature} from public")
        op.execute(f"grant execute on function {signature} to authenticated")


def downgrade() -> None:
    op.execute("drop function open_chat_turn(uuid, text, integer, integer, integer, uuid)")
    op.execute(_OLD_OPEN_CHAT_TURN)
    op.execute("revoke all on function open_chat_turn(uuid, text, integer, integer) from public")
    op.execute(
        "grant execute on function open_chat_turn(uuid, text, integer, integer) to authenticated"
    )
    op.execute("drop function begin_turn(integer, uuid, uuid)")
    op.execute("drop table chat_turns")
    op.execute("drop table turn_processes")
    op.execute("drop policy messages_turn_service on messages")
    op.execute("drop index messages_streaming_idx")
    op.execute("alter table messages drop column status")

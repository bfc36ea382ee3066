"""Idempotent sends: a turn's user message may be saved under an id the client chose.

`open_chat_turn` takes that id (`message`, null: a new random one). When the caller already
has a message under it, nothing is written: the same conversation, a user message with the
same text (and, if `parent` is given, the same parent) returns the reply its first turn
opened, alone (no history before it: that is how the caller tells a resend); anything else
is RX409. Each user message keeps the id of the reply its turn opened in its metadata
(`turn_reply`), so a resend finds that reply where tool rounds have since moved it.

The conversation's row is locked before the check, so a resend racing its first send waits
for it and then rejoins it. An id another user's message holds fails the insert on the
primary key, which the caller reports as the same conflict.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_CHAT_TURN = """
    create function open_chat_turn(
      conversation uuid, content text, per_hour integer, history_limit integer,
      max_in_flight integer, process uuid, parent uuid, message uuid
    ) returns setof messages
    language plpgsql volatile security invoker
    as $$
    declare
      reply uuid := gen_random_uuid();
      anchor uuid;
      asked uuid;
      sent messages;
    begin
      -- Locked until the opening commits: turns opened together in one conversation follow
      -- one another instead of branching off the same message, and a resend waits for its
      -- first send.
      select current_message_id into anchor from conversations where id = conversation
        for update;
      if not found then
        raise exception 'no such conversation' using errcode = 'RX404';
      end if;
      if message is not null then
        select * into sent from messages m where m.id = message;
        if found then
          if sent.conversation_id <> conversation or sent.role <> 'user'
            or sent.content <> content
            or (parent is not null and sent.parent_id is distinct from parent)
            or sent.metadata->>'turn_reply' is null
          then
            raise exception 'message id already used' using errcode = 'RX409';
          end if;
          return query select * from messages m where m.id = (sent.metadata->>'turn_reply')::uuid;
          if not found then
            raise exception 'message id already used' using errcode = 'RX409';
          end if;
          return;
        end if;
      end if;
      if parent is not null then
        if not exists (
          select 1 from messages where id = parent and conversation_id = conversation
        ) then
          raise exception 'parent not in this conversation' using errcode = 'RX400';
        end if;
        anchor := parent;
      end if;
      perform admit_message(per_hour);
      insert into messages (id, conversation_id, role, content, parent_id, metadata)
        values (
          coalesce(message, gen_random_uuid()), conversation, 'user', content, anchor,
          jsonb_build_object('turn_reply', reply)
        )
        returning id into asked;
      return query select * from branch_path(asked, history_limit);
      insert into messages (id, conversation_id, role, content, status, parent_id)
        values (reply, conversation, 'assistant', '', 'streaming', asked);
      update conversations set current_message_id = reply where id = conversation;
      perform begin_turn(max_in_flight, process, reply);
      return query select * from messages where id = reply;
    end
    $$
"""

# Migration 0011's, restored on the way down.
_OLD_OPEN_CHAT_TURN = """
    create function open_chat_turn(
      conversation uuid, content text, per_hour integer, history_limit integer,
      max_in_flight integer, process uuid, parent uuid
    ) returns setof messages
    language plpgsql volatile security invoker
    as $$
    declare
      reply uuid := gen_random_uuid();
      anchor uuid;
      asked uuid;
    begin
      select current_message_id into anchor from conversations where id = conversation
        for update;
      if not found then
        raise exception 'no such conversation' using errcode = 'RX404';
      end if;
      if parent is not null then
        if not exists (
          select 1 from messages where id = parent and conversation_id = conversation
        ) then
          raise exception 'parent not in this conversation' using errcode = 'RX400';
        end if;
        anchor := parent;
      end if;
      perform admit_message(per_hour);
      insert into messages (conversation_id, role, content, parent_id)
        values (conversation, 'user', content, anchor) returning id into asked;
      return query select * from branch_path(asked, history_limit);
      insert into messages (id, conversation_id, role, content, status, parent_id)
        values (reply, conversation, 'assistant', '', 'streaming', asked);
      update conversations set current_message_id = reply where id = conversation;
      perform begin_turn(max_in_flight, process, reply);
      return query select * from messages where id = reply;
    end
    $$
"""

_OLD_SIGNATURE = "open_chat_turn(uuid, text, integer, integer, integer, uuid, uuid)"
_SIGNATURE = "open_chat_turn(uuid, text, integer, integer, integer, uuid, uuid, uuid)"


def upgrade() -> None:
    op.execute(f"drop function {_OLD_SIGNATURE}")
    op.execute(_OPEN_CHAT_TURN)
    op.execute(f"revoke all on function {_SIGNATURE} from public")
    op.execute(f"grant execute on function {_SIGNATURE} to authenticated")


def downgrade() -> None:
    op.execute(f"drop function {_SIGNATURE}")
    op.execute(_OLD_OPEN_CHAT_TURN)
    op.execute(f"revoke all on function {_OLD_SIGNATURE} from public")
    op.execute(f"grant execute on function {_OLD_SIGNATURE} to authenticated")

"""A conversation's messages form a tree: edits and regenerations are branches.

- `messages.parent_id`: the message this one follows (null for a conversation's first).
  Existing conversations become one branch, their messages chained in `seq` order.
- `conversations.current_message_id`: the end of the branch shown; its path to the root is
  what `messages` pages through and what the next turn continues from. Existing
  conversations point at their newest message.
- `branch_path(tip, max_rows)`: the newest `max_rows` messages of the path ending at `tip`,
  oldest first. Along a path `seq` only grows (a child is always saved after its parent, and a
  reply moved after its tool messages takes them as its parents).
- `open_chat_turn` takes the new message's parent (null: the conversation's current message;
  another conversation's message is refused with RX400), hands the model that path, and
  makes the new reply the conversation's current message. The conversation's row is locked
  first, so turns opened at once in one conversation follow one another.
- `open_regenerate_turn(reply, ...)`: a new reply to the user message `reply` answers (its
  nearest user ancestor), as a sibling, admitted like a message; RM404 when the caller cannot
  see `reply`, RX400 when it is not an assistant reply.

Going down drops the tree: every message stays, in `seq` order.

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BRANCH_PATH = """
    create function branch_path(tip uuid, max_rows integer) returns setof messages
    language sql stable security invoker
    as $$
      with recursive up as (
        select m as msg, 1 as depth from messages m where m.id = tip
        union all
        select m, up.depth + 1 from messages m join up on m.id = (up.msg).parent_id
          where up.depth < max_rows
      )
      select (up.msg).* from up order by up.depth desc
    $$
"""

_OPEN_CHAT_TURN = """
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
      -- Locked until the opening commits: turns opened together in one conversation follow
      -- one another instead of branching off the same message.
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

_OPEN_REGENERATE_TURN = """
    create function open_regenerate_turn(
      replaced uuid, per_hour integer, history_limit integer, max_in_flight integer,
      process uuid
    ) returns setof messages
    language plpgsql volatile security invoker
    as $$
    declare
      reply uuid := gen_random_uuid();
      conversation uuid;
      kind text;
      asked uuid;
    begin
      select conversation_id, role into conversation, kind from messages where id = replaced;
      if not found then
        raise exception 'no such message' using errcode = 'RM404';
      end if;
      perform 1 from conversations where id = conversation for update;
      if kind <> 'assistant' then
        raise exception 'not a reply' using errcode = 'RX400';
      end if;
      with recursive up as (
        select m.id, m.parent_id, m.role, 0 as depth from messages m where m.id = replaced
        union all
        select m.id, m.parent_id, m.role, up.depth + 1
          from messages m join up on m.id = up.parent_id where up.role <> 'user'
      )
      select id into asked from up where role = 'user' order by depth limit 1;
      if asked is null then
        raise exception 'no user message before this reply' using errcode = 'RX400';
      end if;
      perform admit_message(per_hour);
      return query select * from branch_path(asked, history_limit);
      insert into messages (id, conversation_id, role, content, status, parent_id)
        values (reply, conversation, 'assistant', '', 'streaming', asked);
      update conversations set current_message_id = reply where id = conversation;
      perform begin_turn(max_in_flight, process, reply);
      return query select * from messages where id = reply;
    end
    $$
"""

# Migration 0009's, restored on the way down.
_OLD_OPEN_CHAT_TURN = """
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

_OLD_SIGNATURE = "open_chat_turn(uuid, text, integer, integer, integer, uuid)"
_SIGNATURES = (
    "branch_path(uuid, integer)",
    "open_chat_turn(uuid, text, integer, integer, integer, uuid, uuid)",
    "open_regenerate_turn(uuid, integer, integer, integer, uuid)",
)


def upgrade() -> None:
    op.execute(
        "alter table messages add column parent_id uuid references messages (id) on delete cascade"
    )
    op.execute("""
        update messages m set parent_id = chained.previous
        from (
          select id, lag(id) over (partition by conversation_id order by seq) as previous
          from messages
        ) chained
        where chained.id = m.id and chained.previous is not null
    """)
    op.execute("create index messages_parent_idx on messages (parent_id)")
    op.execute("alter table conversations add column current_message_id uuid")
    op.execute("""
        update conversations c set current_message_id = (
          select m.id from messages m where m.conversation_id = c.id order by m.seq desc limit 1
        )
    """)

    op.execute(_BRANCH_PATH)
    op.execute(f"drop function {_OLD_SIGNATURE}")
    op.execute(_OPEN_CHAT_TURN)
    op.execute(_OPEN_REGENERATE_TURN)
    for signature in _SIGNATURES:
        op.execute(f"revoke all on function {signature} from public")
        op.execute(f"grant execute on function {signature} to authenticated")


def downgrade() -> None:
    for signature in reversed(_SIGNATURES):
        op.execute(f"drop function {signature}")
    op.execute(_OLD_OPEN_CHAT_TURN)
    op.execute(f"revoke all on function {_OLD_SIGNATURE} from public")
    op.execute(f"grant execute on function {_OLD_SIGNATURE} to authenticated")
    op.execute("alter table conversations drop column current_message_id")
    op.execute("drop index messages_parent_idx")
    op.execute("alter table messages drop column parent_id")

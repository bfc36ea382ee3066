"""Search, archiving, and the seed's own names.

- `message_search`: each message's words (`to_tsvector('simple', content)`: no stemming and
  no stop words, so every language is found as written), kept by a trigger on `messages`, with
  a GIN index. A side table because PostgreSQL never uses an index for a condition that is not
  LEAKPROOF (`@@` is not) on a table under row-level security: on `messages` itself every
  search read every message. The table has no grants; `search_messages()` (SECURITY DEFINER)
  is the one way in and returns only the caller's hits, which the API then reads again from
  `messages` under RLS. Titles are matched on `conversations` itself: the caller's
  conversations are an index range already.
- `conversations.archived`, and the conversations page's index leads with it after `user_id`,
  so both lists (archived or not) stay an index range in (updated_at, id) order.
- The seed's text: its index is `messages_conversation_idx`, and `conversations_owner` has a
  WITH CHECK as well as its USING (the index-friendly form of 0003 for both).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX_MESSAGE = """
    create function index_message_for_search() returns trigger
    language plpgsql security definer set search_path = public, pg_temp
    as $$
    begin
      insert into message_search (message_id, conversation_id, document)
        values (new.id, new.conversation_id, to_tsvector('simple', new.content))
        on conflict (message_id) do update set document = excluded.document;
      return null;
    end
    $$
"""

# The caller's hits, best first, after the keyset (rank, id); the caller's conversations
# named explicitly, as the owner running this may see more than the caller. EXECUTE plans
# with the query's words known; ROWS tells the API's query to expect a page, not a thousand
# rows, so it reads each hit's message by its key instead of reading them all.
_SEARCH_MESSAGES = """
    create function search_messages(
      query tsquery, max_hits integer, after_rank double precision, after_id uuid
    ) returns table (message_id uuid, rank double precision)
    language plpgsql stable security definer set search_path = public, pg_temp
    rows 20
    as $$
    begin
      return query execute $q$
        select hit.message_id, hit.rank from (
          select s.message_id, ts_rank(s.document, $1)::double precision as rank
          from message_search s
          where s.document @@ $1
            and s.conversation_id in (
              select c.id from conversations c where c.user_id = (select request_user_id())
            )
        ) hit
        where $4 is null or (hit.rank, hit.message_id) < ($3, $4)
        order by hit.rank desc, hit.message_id desc
        limit $2
      $q$ using query, max_hits, after_rank, after_id;
    end
    $$
"""

_SEARCH_SIGNATURE = "search_messages(tsquery, integer, double precision, uuid)"


def upgrade() -> None:
    op.execute("""
        create table message_search (
          message_id uuid primary key references messages (id) on delete cascade,
          conversation_id uuid not null,
          document tsvector not null
        )
    """)
    op.execute(
        "insert into message_search (message_id, conversation_id, document)"
        " select id, conversation_id, to_tsvector('simple', content) from messages"
    )
    op.execute("create index message_search_document_idx on message_search using gin (document)")
    op.execute("revoke all on message_search from public")
    op.execute(_INDEX_MESSAGE)
    op.execute(
        "create trigger messages_index_for_search after insert or update of content on messages"
        " for each row execute function index_message_for_search()"
    )
    op.execute(_SEARCH_MESSAGES)
    op.execute(f"revoke all on function {_SEARCH_SIGNATURE} from public")
    op.execute(f"grant execute on function {_SEARCH_SIGNATURE} to authenticated")
    op.execute("revoke all on function index_message_for_search() from public")

    op.execute("alter table conversations add column archived boolean not null default false")
    op.execute(
        "create index conversations_user_id_archived_updated_at_idx"
        " on conversations (user_id, archived, updated_at desc, id desc)"
    )
    op.execute("drop index conversations_user_id_updated_at_idx")

    op.execute("alter index messages_conversation_id_idx rename to messages_conversation_idx")
    op.execute("drop policy conversations_owner on conversations")
    op.execute("""
        create policy conversations_owner on conversations
          for all
          using (user_id = (select request_user_id()))
          with check (user_id = (select request_user_id()))
    """)


def downgrade() -> None:
    op.execute("drop policy conversations_owner on conversations")
    op.execute("""
        create policy conversations_owner on conversations
          for all
          using (user_id = (select request_user_id()))
    """)
    op.execute("alter index messages_conversation_idx rename to messages_conversation_id_idx")

    op.execute(
        "create index conversations_user_id_updated_at_idx"
        " on conversations (user_id, updated_at desc, id desc)"
    )
    op.execute("drop index conversations_user_id_archived_updated_at_idx")
    op.execute("alter table conversations drop column archived")

    op.execute(f"drop function {_SEARCH_SIGNATURE}")
    op.execute("drop trigger messages_index_for_search on messages")
    op.execute("drop function index_message_for_search()")
    op.execute("drop table message_search")

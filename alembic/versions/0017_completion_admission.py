"""An `/ai/v1` call's admission and its end, one statement each, identity included.

`admit_completion(claims, role, per_hour, max_in_flight, process)` takes on the caller's
identity for the rest of its transaction (what `rls_transaction` does in a statement of its
own), then admits the call under the hourly limit (`admit_message`) and the cap on turns in
flight (`begin_turn`), returning the turn's id. `end_completion(claims, role, turn)` takes on
the identity and removes the turn. Both run as one statement in a transaction of its own
(autocommit), so admitting a call is one round trip where it was five (BEGIN, the identity,
two statements, COMMIT).

Every statement after the identity runs as the request role under row-level security, as
before; the refusals are `admit_message`'s and `begin_turn`'s. The functions are the login
role's way in, so a request role may not call them (it could name any claims): they refuse
unless the caller is neither `anon` nor `authenticated`, as the service policies of 0009
decide who the login role is.

Revision ID: 0017
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAKE_IDENTITY = """
      if current_user in ('anon', 'authenticated') then
        raise exception 'a request role cannot choose its identity' using errcode = '42501';
      end if;
      if role not in ('anon', 'authenticated') then
        raise exception 'not a request role: %', role using errcode = '22023';
      end if;
      -- As rls_transaction sets them: until the end of this statement's transaction.
      perform set_config('request.jwt.claims', claims, true), set_config('role', role, true);
"""

_ADMIT_COMPLETION = f"""
    create function admit_completion(
      claims text, role text, per_hour integer, max_in_flight integer, process uuid
    ) returns uuid
    language plpgsql volatile security invoker
    as $$
    begin
      {_TAKE_IDENTITY}
      perform admit_message(per_hour);
      return begin_turn(max_in_flight, process, null);
    end
    $$
"""

_END_COMPLETION = f"""
    create function end_completion(claims text, role text, turn uuid) returns void
    language plpgsql volatile security invoker
    as $$
    begin
      {_TAKE_IDENTITY}
      delete from chat_turns where id = turn;
    end
    $$
"""  # noqa: S608 - constant text, no input in it


def upgrade() -> None:
    op.execute(_ADMIT_COMPLETION)
    op.execute(_END_COMPLETION)


def downgrade() -> None:
    op.execute("drop function end_completion(text, text, uuid)")
    op.execute("drop function admit_completion(text, text, integer, integer, uuid)")

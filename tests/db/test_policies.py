"""The seed's policies exist, and the catalogue leaves `authenticated` no way around RLS."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_seed_policies_exist_on_their_tables(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("select tablename, policyname from pg_policies where schemaname = 'public'")
        )
        policies = {(r.tablename, r.policyname) for r in rows}
    assert ("conversations", "conversations_owner") in policies
    assert ("messages", "messages_via_conversation") in policies


async def test_every_table_authenticated_can_reach_has_forced_rls_and_a_policy(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("""
                select c.oid::regclass::text as name, c.relrowsecurity, c.relforcerowsecurity,
                       (select count(*) from pg_policy p where p.polrelid = c.oid) as policies
                from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where c.relkind in ('r', 'p', 'v', 'm')
                  and n.nspname not in ('pg_catalog', 'information_schema')
                  and (has_table_privilege('authenticated', c.oid, 'select')
                       or has_table_privilege('authenticated', c.oid, 'insert')
                       or has_table_privilege('authenticated', c.oid, 'update')
                       or has_table_privilege('authenticated', c.oid, 'delete'))
            """)
        )
        reachable = list(rows)
    names = {r.name for r in reachable}
    assert {"conversations", "messages"} <= names
    for row in reachable:
        assert row.relrowsecurity, f"{row.name}: RLS not enabled"
        assert row.relforcerowsecurity, f"{row.name}: RLS not forced"
        assert row.policies > 0, f"{row.name}: no policy"


async def test_authenticated_owns_nothing_and_cannot_bypass_rls(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        role = (
            await conn.execute(
                text(
                    "select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = 'authenticated'"
                )
            )
        ).one()
        owned = (
            await conn.execute(
                text("""
                    select count(*) from pg_class c
                    where c.relowner = (select oid from pg_roles where rolname = 'authenticated')
                """)
            )
        ).scalar_one()
    assert not role.rolsuper
    assert not role.rolbypassrls
    assert not role.rolcanlogin
    assert owned == 0


async def test_anon_reaches_no_table(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        reachable = (
            await conn.execute(
                text("""
                    select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where c.relkind in ('r', 'p', 'v', 'm')
                      and n.nspname not in ('pg_catalog', 'information_schema')
                      and has_table_privilege('anon', c.oid, 'select')
                """)
            )
        ).scalar_one()
    assert reachable == 0


async def test_a_grant_slipped_onto_auth_still_shows_request_roles_nothing(
    engine: AsyncEngine,
) -> None:
    """Behind the grants, the auth tables' policy refuses anon and authenticated: a grant made
    by mistake exposes no password hash. Rolled back, grant included."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(
            text("insert into auth.users (email, password_hash) values ('slip@example.com', 'x')")
        )
        await conn.execute(text("grant usage on schema auth to authenticated"))
        await conn.execute(text("grant select on auth.users to authenticated"))
        await conn.execute(text("set local role authenticated"))
        visible = (await conn.execute(text("select count(*) from auth.users"))).scalar_one()
        await transaction.rollback()
    assert visible == 0


async def test_turn_service_reaches_only_the_turns_bookkeeping_under_forced_rls(
    engine: AsyncEngine,
) -> None:
    """Migration 0014 grants `turn_service` exactly what the processes' bookkeeping touches."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("""
                select g.table_name as name, string_agg(distinct g.privilege_type, ',') as rights,
                       bool_and(c.relforcerowsecurity) as forced
                from (
                  select table_schema, table_name, privilege_type
                  from information_schema.role_table_grants where grantee = 'turn_service'
                  union
                  select table_schema, table_name, privilege_type || '(' || column_name || ')'
                  from information_schema.column_privileges where grantee = 'turn_service'
                    and (table_schema, table_name, privilege_type) not in (
                      select table_schema, table_name, privilege_type
                      from information_schema.role_table_grants where grantee = 'turn_service'
                    )
                ) g
                join pg_class c on c.oid = (quote_ident(g.table_schema) || '.'
                                            || quote_ident(g.table_name))::regclass
                group by g.table_name
            """)
        )
        reached = {r.name: (set(r.rights.split(",")), r.forced) for r in rows}
    assert reached == {
        "turn_processes": ({"SELECT", "INSERT", "UPDATE", "DELETE"}, True),
        "chat_turns": ({"SELECT", "DELETE"}, True),
        "messages": (
            {"SELECT", "UPDATE(content)", "UPDATE(status)", "UPDATE(metadata)"},
            True,
        ),
        "conversations": ({"SELECT(id)", "SELECT(user_id)"}, True),
    }

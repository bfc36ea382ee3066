"""A product's name is its key: `reactor-chat products import` updates a product it loaded
before instead of adding it again.

- rows with a name already taken are deleted first, keeping the newest of each name (the
  one an import would have meant last);
- the plain index on `name` becomes the unique constraint `products_name_key`, which serves
  the same `order by name` and the import's `on conflict (name)`;
- `products_catalogue_writes`: row-level security is forced on products, so the role that
  runs the import (the owner, or any role that is not a request role) needs a policy to
  insert, update and delete; requests stay read-only (`authenticated` has only `select`).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_A_REQUEST_ROLE = "current_user not in ('anon', 'authenticated')"


def upgrade() -> None:
    op.execute("""
        delete from products p
        using (
          select id, row_number() over (
            partition by name order by created_at desc, id desc
          ) as n
          from products
        ) ranked
        where p.id = ranked.id and ranked.n > 1
    """)
    op.execute("drop index products_name_idx")
    op.execute("alter table products add constraint products_name_key unique (name)")
    op.execute(
        "create policy products_catalogue_writes on products for all"
        f" using ({_NOT_A_REQUEST_ROLE}) with check ({_NOT_A_REQUEST_ROLE})"
    )


def downgrade() -> None:
    op.execute("drop policy products_catalogue_writes on products")
    op.execute("alter table products drop constraint products_name_key")
    op.execute("create index products_name_idx on products (name)")

"""The seed schema, as written in alembic/seed/001_chatbot.sql.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op
from db.scripts import run_script

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED = Path(__file__).resolve().parent.parent / "seed" / "001_chatbot.sql"


def upgrade() -> None:
    run_script(op.get_bind(), SEED.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("drop table messages")
    op.execute("drop table conversations")

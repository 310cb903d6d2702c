"""Inbox claims: with several bot app processes, a received webhook message is handed to the Router by
one of them (``bot/inbox.py``: ``Inbox.claim``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inbox")}
    for column in ("claimed_by", "claimed_until"):
        if column not in present:
            op.execute(f"ALTER TABLE inbox ADD COLUMN {column} TEXT")


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")

"""Leases: the background loops (retry of kept messages, the purge, the handover desk) run in one
process at a time across all processes of the bot app (``bot/leases.py``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REAL = {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION"}


def upgrade() -> None:
    op.execute(f"""CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at {REAL[op.get_bind().dialect.name]} NOT NULL
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE leases")

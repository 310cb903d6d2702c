"""The versions of catalogue records that staff edit (``procedures/editing.py``).

Earlier releases let sqlite-utils create this table on first use; it is created here when
missing, with the same columns, so those databases keep their history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = {"sqlite": "INTEGER PRIMARY KEY", "postgresql": "BIGSERIAL PRIMARY KEY"}


def upgrade() -> None:
    op.execute(f"""CREATE TABLE IF NOT EXISTS procedure_versions (
        id {ID[op.get_bind().dialect.name]},
        procedure_id TEXT,
        author TEXT,
        created TEXT,
        action TEXT,
        diff TEXT,
        text TEXT
    )""")
    op.execute("CREATE INDEX IF NOT EXISTS idx_procedure_versions_procedure_id_id"
               " ON procedure_versions (procedure_id, id)")


def downgrade() -> None:
    op.execute("DROP TABLE procedure_versions")

"""Baseline: the tables of every store as they were when the app moved to Alembic.

Creates what is missing (``IF NOT EXISTS``) and adds the columns that databases made by
earlier releases lack, so a SQLite file from before Alembic is upgraded in place, not replaced.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id {id},
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'web',
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    text TEXT NOT NULL DEFAULT '',
    payload TEXT,
    buttons TEXT,
    status TEXT NOT NULL DEFAULT 'ok',
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    pending_text TEXT,
    error TEXT,
    author TEXT
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, id);
CREATE INDEX IF NOT EXISTS messages_status ON messages (status, id);
CREATE INDEX IF NOT EXISTS messages_created ON messages (created_at);

CREATE TABLE IF NOT EXISTS inbox (
    id {id},
    channel TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    text TEXT,
    payload TEXT,
    payload_key TEXT,
    title TEXT,
    notice TEXT,
    status TEXT NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'done')),
    created_at TEXT NOT NULL,
    UNIQUE (channel, platform_id)
);
CREATE INDEX IF NOT EXISTS inbox_received ON inbox (status, id);

CREATE TABLE IF NOT EXISTS outbox (
    id {id},
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    reply TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'held', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, conversation_id, id);

CREATE TABLE IF NOT EXISTS dossiers (
    code TEXT PRIMARY KEY,
    year INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    procedure_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    form_id TEXT,
    state TEXT NOT NULL,
    answers TEXT NOT NULL,
    phone_last4 TEXT,
    expected_date TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX IF NOT EXISTS dossiers_conversation ON dossiers (conversation_id);
CREATE TABLE IF NOT EXISTS dossier_events (
    id {id},
    dossier_code TEXT NOT NULL REFERENCES dossiers (code) ON DELETE CASCADE,
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS dossier_events_code ON dossier_events (dossier_code);
CREATE TABLE IF NOT EXISTS dossier_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS form_drafts (
    conversation_id TEXT PRIMARY KEY,
    procedure_id TEXT NOT NULL,
    form_id TEXT,
    answers TEXT NOT NULL,
    current_field TEXT,
    updated_at TEXT NOT NULL,
    last_message_id INTEGER
);

CREATE TABLE IF NOT EXISTS handovers (
    id {id},
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'claimed', 'closed')),
    reason TEXT NOT NULL,
    procedure TEXT,
    requested_at TEXT NOT NULL,
    assigned_to TEXT,
    team TEXT,
    claimed_at TEXT,
    last_citizen_at TEXT,
    last_volunteer_at TEXT,
    ended_at TEXT,
    outcome TEXT,
    close_reason TEXT,
    paused INTEGER NOT NULL DEFAULT 0,
    notified_position INTEGER,
    rating_asked_at TEXT,
    rating INTEGER,
    rating_comment TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS handovers_open ON handovers (conversation_id) WHERE state != 'closed';
CREATE INDEX IF NOT EXISTS handovers_state ON handovers (state, requested_at);
CREATE INDEX IF NOT EXISTS handovers_conversation ON handovers (conversation_id, id);
CREATE TABLE IF NOT EXISTS handover_events (
    id {id},
    handover_id INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    team TEXT,
    at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX IF NOT EXISTS handover_events_at ON handover_events (at);
CREATE TABLE IF NOT EXISTS handover_notes (
    id {id},
    conversation_id TEXT NOT NULL,
    handover_id INTEGER,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS handover_notes_conversation ON handover_notes (conversation_id, id);
CREATE TABLE IF NOT EXISTS canned_replies (
    code TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS presence (
    username TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('online', 'away', 'offline')),
    updated_at TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS callbacks (
    id {id},
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    procedure TEXT,
    question TEXT NOT NULL,
    phone TEXT,
    phone_masked TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'done')),
    created_at TEXT NOT NULL,
    done_at TEXT,
    done_by TEXT
);
CREATE INDEX IF NOT EXISTS callbacks_state ON callbacks (state, id);
CREATE TABLE IF NOT EXISTS callback_drafts (
    conversation_id TEXT PRIMARY KEY,
    step TEXT NOT NULL CHECK (step IN ('phone', 'question')),
    phone TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS accounts (
    username TEXT NOT NULL PRIMARY KEY{nocase},
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('volunteer', 'supervisor', 'admin', 'staff')),
    team TEXT,
    display_name TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL{nocase} REFERENCES accounts (username) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at {real} NOT NULL,
    last_seen {real} NOT NULL,
    expires_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_username ON sessions (username);
CREATE TABLE IF NOT EXISTS auth_events (
    id {id},
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    username TEXT,
    client TEXT
);
CREATE INDEX IF NOT EXISTS auth_events_username ON auth_events (username, id);
CREATE TABLE IF NOT EXISTS auth_meta (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS learning_flags (
    id {id},
    conversation_id TEXT NOT NULL,
    message_id INTEGER NOT NULL UNIQUE,
    flagged_by TEXT NOT NULL,
    flagged_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS learning_annotations (
    key TEXT PRIMARY KEY,
    intent TEXT NOT NULL,
    procedure TEXT,
    example TEXT,
    file TEXT,
    annotated_by TEXT NOT NULL,
    annotated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS access_log (
    id {id},
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    what TEXT NOT NULL CHECK (what IN ('conversation', 'dossier', 'privacy_export', 'privacy_delete')),
    target TEXT NOT NULL,
    route TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at);
CREATE INDEX IF NOT EXISTS access_log_who ON access_log (who, id);
"""

# Columns that databases made by earlier releases lack: (table, column, definition).
ADDED_COLUMNS = [
    ("messages", "attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("messages", "pending_text", "TEXT"),
    ("messages", "error", "TEXT"),
    ("messages", "author", "TEXT"),
    ("form_drafts", "last_message_id", "INTEGER"),
]

DIALECT = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL", "nocase": " COLLATE NOCASE"},
    "postgresql": {"id": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION", "nocase": ""},
}


def upgrade() -> None:
    bind = op.get_bind()
    for statement in SCHEMA.format(**DIALECT[bind.dialect.name]).split(";"):
        if statement.strip():
            op.execute(statement)
    inspector = sa.inspect(bind)
    for table, column, definition in ADDED_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def downgrade() -> None:
    raise NotImplementedError("the baseline is not downgraded: restore the backup taken before the upgrade")

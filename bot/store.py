"""The bot app's own SQLite database: every message in and out, per conversation.

A citizen's message is written before it goes to Rasa, so it is never lost even when
Rasa is down (its status stays ``pending`` until a reply is delivered).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'web',
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    text TEXT NOT NULL DEFAULT '',
    payload TEXT,
    buttons TEXT,
    status TEXT NOT NULL DEFAULT 'ok',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, id);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class MessageStore:
    """Thread-safe access to the messages table."""

    def __init__(self, path: Path | str):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def add(self, conversation_id: str, direction: str, text: str, *, channel: str = "web",
            payload: str | None = None, buttons: list | None = None, status: str = "ok") -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO messages (conversation_id, channel, direction, text, payload, buttons, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, channel, direction, text, payload,
                 json.dumps(buttons, ensure_ascii=False) if buttons else None, status, now_iso()),
            )
            return cursor.lastrowid

    def set_status(self, message_id: int, status: str) -> None:
        with self._lock:
            self._db.execute("UPDATE messages SET status = ? WHERE id = ?", (status, message_id))

    def history(self, conversation_id: str, after: str | None = None) -> list[dict]:
        query = "SELECT * FROM messages WHERE conversation_id = ?"
        params: list = [conversation_id]
        if after:
            query += " AND created_at > ?"
            params.append(after)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [_row(r) for r in rows]

    def pending(self, before: str) -> list[dict]:
        """Citizen messages written before ``before`` (ISO time) that got no reply from Rasa."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE status = 'pending' AND created_at < ? ORDER BY id",
                                    (before,)).fetchall()
        return [_row(r) for r in rows]


def _row(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "channel": row["channel"],
        "direction": row["direction"],
        "text": row["text"],
        "payload": row["payload"],
        "buttons": json.loads(row["buttons"]) if row["buttons"] else [],
        "status": row["status"],
        "created_at": row["created_at"],
    }

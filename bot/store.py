"""The bot app's own SQLite database: every message in and out, per conversation.

A citizen's message is written before it goes to Rasa, so it is never lost even when
Rasa is down: its status stays ``pending`` until a reply is delivered (``ok``), or it is
``failed`` after ``MAX_ATTEMPTS`` failed turns. ``text`` is what the history shows (ID and
phone numbers masked); ``pending_text`` keeps the text as typed only while the message
waits to be sent to Rasa, and is erased when it is sent or fails. Messages older than the
retention period are deleted (``purge``) with SQLite's ``secure_delete`` on, so deleted
text does not linger in free pages.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
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
# Columns added after the first release: (name, definition), added to older databases on open.
ADDED_COLUMNS = [
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("pending_text", "TEXT"),
    ("error", "TEXT"),
    ("author", "TEXT"),   # who wrote an outgoing message: NULL the bot, else the volunteer's username
]
INDEXES = """
CREATE INDEX IF NOT EXISTS messages_status ON messages (status, id);
CREATE INDEX IF NOT EXISTS messages_created ON messages (created_at);
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
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)
        existing = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        for name, definition in ADDED_COLUMNS:
            if name not in existing:
                self._db.execute(f"ALTER TABLE messages ADD COLUMN {name} {definition}")
        self._db.executescript(INDEXES)
        self._lock = threading.Lock()

    def add(self, conversation_id: str, direction: str, text: str, *, channel: str = "web",
            payload: str | None = None, buttons: list | None = None, status: str = "ok",
            pending_text: str | None = None, author: str | None = None) -> int:
        """Store one message; ``pending_text`` (the text as typed) only for a message still to send;
        ``author`` the volunteer who wrote an outgoing message (None: the bot)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO messages (conversation_id, channel, direction, text, payload, buttons, status,"
                " created_at, pending_text, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, channel, direction, text, payload,
                 json.dumps(buttons, ensure_ascii=False) if buttons else None, status, now_iso(), pending_text,
                 author),
            )
            return cursor.lastrowid

    def set_status(self, message_id: int, status: str) -> None:
        """``ok`` or ``failed``: the clear text kept for sending is erased; ``pending`` keeps it."""
        with self._lock:
            if status == "pending":
                self._db.execute("UPDATE messages SET status = ? WHERE id = ?", (status, message_id))
            else:
                self._db.execute("UPDATE messages SET status = ?, pending_text = NULL WHERE id = ?",
                                 (status, message_id))

    def record_failure(self, message_id: int, reason: str, max_attempts: int) -> int:
        """Count one failed turn of a pending message; after ``max_attempts`` it becomes ``failed``.

        ``reason`` must not carry personal data (an exception class, "no reply"). Returns the
        number of attempts so far.
        """
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT attempts FROM messages WHERE id = ?", (message_id,)).fetchone()
            attempts = (row["attempts"] if row else 0) + 1
            if attempts >= max_attempts:
                self._db.execute("UPDATE messages SET attempts = ?, error = ?, status = 'failed', pending_text = NULL"
                                 " WHERE id = ?", (attempts, reason[:200], message_id))
            else:
                self._db.execute("UPDATE messages SET attempts = ?, error = ? WHERE id = ?",
                                 (attempts, reason[:200], message_id))
        return attempts

    def last_buttons(self, conversation_id: str) -> list[dict]:
        """The buttons of the bot's latest reply (a number answer chooses among them)."""
        with self._lock:
            rows = self._db.execute("SELECT buttons FROM messages WHERE conversation_id = ? AND direction = 'out'"
                                    " ORDER BY id DESC LIMIT 1", (conversation_id,)).fetchall()
        for row in rows:
            if row["buttons"]:
                return [b for b in json.loads(row["buttons"]) if isinstance(b, dict)]
        return []

    def last_inbound(self, conversation_id: str) -> dict | None:
        """The citizen's latest message in this conversation (masked text and time), or None."""
        with self._lock:
            row = self._db.execute("SELECT text, created_at FROM messages WHERE conversation_id = ? AND direction = 'in'"
                                   " ORDER BY id DESC LIMIT 1", (conversation_id,)).fetchone()
        return dict(row) if row else None

    def last_inbound_at(self, conversation_id: str) -> datetime | None:
        """When the citizen last wrote in this conversation."""
        with self._lock:
            row = self._db.execute("SELECT MAX(created_at) FROM messages WHERE conversation_id = ? AND direction = 'in'",
                                   (conversation_id,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def button_title(self, conversation_id: str, payload: str, last: int = 5) -> str | None:
        """The title of an offered button (platforms that send back only the payload)."""
        with self._lock:
            rows = self._db.execute("SELECT buttons FROM messages WHERE conversation_id = ? AND direction = 'out'"
                                    " AND buttons IS NOT NULL ORDER BY id DESC LIMIT ?", (conversation_id, last)).fetchall()
        for row in rows:
            for button in json.loads(row["buttons"]):
                if isinstance(button, dict) and button.get("payload") == payload:
                    return str(button.get("title") or "")
        return None

    def offered_payloads(self, conversation_id: str, last: int = 5) -> set[str]:
        """Payloads of the buttons in the bot's last ``last`` replies in this conversation."""
        with self._lock:
            rows = self._db.execute("SELECT buttons FROM messages WHERE conversation_id = ? AND direction = 'out'"
                                    " ORDER BY id DESC LIMIT ?", (conversation_id, last)).fetchall()
        payloads: set[str] = set()
        for row in rows:
            for button in json.loads(row["buttons"]) if row["buttons"] else []:
                if isinstance(button, dict) and isinstance(button.get("payload"), str):
                    payloads.add(button["payload"])
        return payloads

    def history(self, conversation_id: str, after: str | None = None) -> list[dict]:
        query = "SELECT * FROM messages WHERE conversation_id = ?"
        params: list = [conversation_id]
        if after:
            query += " AND created_at > ?"
            params.append(after)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [_row(r) for r in rows]

    def after_id(self, conversation_id: str, after_id: int, limit: int = 200) -> list[dict]:
        """The conversation's messages with an id above ``after_id``, oldest first (at most ``limit``).

        Ids only grow, so a reader that remembers the last id it saw (the web chat's live events,
        ``Last-Event-ID``) gets every later message exactly once, whichever process wrote it.
        """
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
                                    (conversation_id, int(after_id), int(limit))).fetchall()
        return [_row(r) for r in rows]

    def pending(self, before: str) -> list[dict]:
        """Citizen messages written before ``before`` (ISO time) that got no reply from Rasa yet,
        oldest first, each with ``pending_text`` (the text as typed) and ``attempts``."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE status = 'pending' AND created_at < ? ORDER BY id",
                                    (before,)).fetchall()
        return [{**_row(r), "pending_text": r["pending_text"], "attempts": r["attempts"]} for r in rows]

    def failed(self, limit: int = 100) -> list[dict]:
        """Messages whose turn failed ``MAX_ATTEMPTS`` times, newest first (masked text, no clear copy)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE status = 'failed' ORDER BY id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [{**_row(r), "attempts": r["attempts"], "error": r["error"]} for r in rows]

    def purge(self, older_than_days: int, now: datetime | None = None) -> int:
        """Delete messages older than ``older_than_days`` (securely: freed pages are zeroed and the
        write-ahead log is checkpointed and truncated). Returns how many went."""
        cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)).isoformat(
            timespec="microseconds")
        with self._lock:
            removed = self._db.execute("DELETE FROM messages WHERE created_at < ?", (cutoff,)).rowcount
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed


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
        "author": row["author"],
    }

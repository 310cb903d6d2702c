"""The bot app's own database (``bot/db.py``: SQLite or PostgreSQL): every message in and out, per conversation.

A citizen's message is written before it goes to Rasa, so it is never lost even when
Rasa is down: its status stays ``pending`` until a reply is delivered (``ok``), or it is
``failed`` after ``MAX_ATTEMPTS`` failed turns. ``text`` is what the history shows (ID and
phone numbers masked); ``pending_text`` keeps the text as typed only while the message
waits to be sent to Rasa, and is erased when it is sent or fails. Messages older than the
retention period are deleted (``purge``); on SQLite with ``secure_delete`` on and the
write-ahead log truncated, so deleted text does not linger in free pages.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot import db as dbmod

def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class MessageStore:
    """The messages table (thread-safe: every call is its own transaction)."""

    def __init__(self, path: "Path | str | dbmod.Database"):
        """``path``: a SQLite file, a SQLAlchemy URL (``DATABASE_URL``) or an open ``Database``."""
        self.db = dbmod.database(path)

    def add(self, conversation_id: str, direction: str, text: str, *, channel: str = "web",
            payload: str | None = None, buttons: list | None = None, status: str = "ok",
            pending_text: str | None = None, author: str | None = None) -> int:
        """Store one message; ``pending_text`` (the text as typed) only for a message still to send;
        ``author`` the volunteer who wrote an outgoing message (None: the bot)."""
        return self.db.insert(
                "INSERT INTO messages (conversation_id, channel, direction, text, payload, buttons, status,"
                " created_at, pending_text, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (conversation_id, channel, direction, text, payload,
                 json.dumps(buttons, ensure_ascii=False) if buttons else None, status, now_iso(), pending_text,
                 author),
            )

    def set_status(self, message_id: int, status: str) -> None:
        """``ok`` or ``failed``: the clear text kept for sending is erased; ``pending`` keeps it."""
        if status == "pending":
            self.db.execute("UPDATE messages SET status = ? WHERE id = ?", (status, message_id))
        else:
            self.db.execute("UPDATE messages SET status = ?, pending_text = NULL WHERE id = ?", (status, message_id))

    def record_failure(self, message_id: int, reason: str, max_attempts: int) -> int:
        """Count one failed turn of a pending message; after ``max_attempts`` it becomes ``failed``.

        ``reason`` must not carry personal data (an exception class, "no reply"). Returns the
        number of attempts so far.
        """
        with self.db.write() as tx:
            attempts = (tx.scalar("SELECT attempts FROM messages WHERE id = ?", (message_id,)) or 0) + 1
            if attempts >= max_attempts:
                tx.execute("UPDATE messages SET attempts = ?, error = ?, status = 'failed', pending_text = NULL"
                                 " WHERE id = ?", (attempts, reason[:200], message_id))
            else:
                tx.execute("UPDATE messages SET attempts = ?, error = ? WHERE id = ?",
                                 (attempts, reason[:200], message_id))
        return attempts

    def last_buttons(self, conversation_id: str) -> list[dict]:
        """The buttons of the bot's latest reply (a number answer chooses among them)."""
        rows = self.db.all("SELECT buttons FROM messages WHERE conversation_id = ? AND direction = 'out'"
                                " ORDER BY id DESC LIMIT 1", (conversation_id,))
        for row in rows:
            if row["buttons"]:
                return [b for b in json.loads(row["buttons"]) if isinstance(b, dict)]
        return []

    def last_inbound(self, conversation_id: str) -> dict | None:
        """The citizen's latest message in this conversation (masked text and time), or None."""
        row = self.db.one("SELECT text, created_at FROM messages WHERE conversation_id = ? AND direction = 'in'"
                               " ORDER BY id DESC LIMIT 1", (conversation_id,))
        return dict(row) if row else None

    def last_inbound_at(self, conversation_id: str) -> datetime | None:
        """When the citizen last wrote in this conversation."""
        last = self.db.scalar("SELECT MAX(created_at) FROM messages WHERE conversation_id = ? AND direction = 'in'",
                              (conversation_id,))
        return datetime.fromisoformat(last) if last else None

    def button_title(self, conversation_id: str, payload: str, last: int = 5) -> str | None:
        """The title of an offered button (platforms that send back only the payload)."""
        rows = self.db.all("SELECT buttons FROM messages WHERE conversation_id = ? AND direction = 'out'"
                                " AND buttons IS NOT NULL ORDER BY id DESC LIMIT ?", (conversation_id, last))
        for row in rows:
            for button in json.loads(row["buttons"]):
                if isinstance(button, dict) and button.get("payload") == payload:
                    return str(button.get("title") or "")
        return None

    def offered_payloads(self, conversation_id: str, last: int = 5) -> set[str]:
        """Payloads of the buttons in the bot's last ``last`` replies in this conversation."""
        rows = self.db.all("SELECT buttons FROM messages WHERE conversation_id = ? AND direction = 'out'"
                                " ORDER BY id DESC LIMIT ?", (conversation_id, last))
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
        rows = self.db.all(query + " ORDER BY id", params)
        return [_row(r) for r in rows]

    def after_id(self, conversation_id: str, after_id: int, limit: int = 200) -> list[dict]:
        """The conversation's messages with an id above ``after_id``, oldest first (at most ``limit``).

        Ids only grow, so a reader that remembers the last id it saw (the web chat's live events,
        ``Last-Event-ID``) gets every later message exactly once, whichever process wrote it.
        """
        rows = self.db.all("SELECT * FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?",
                                (conversation_id, int(after_id), int(limit)))
        return [_row(r) for r in rows]

    def pending(self, before: str) -> list[dict]:
        """Citizen messages written before ``before`` (ISO time) that got no reply from Rasa yet,
        oldest first, each with ``pending_text`` (the text as typed) and ``attempts``."""
        rows = self.db.all("SELECT * FROM messages WHERE status = 'pending' AND created_at < ? ORDER BY id",
                                (before,))
        return [{**_row(r), "pending_text": r["pending_text"], "attempts": r["attempts"]} for r in rows]

    def failed(self, limit: int = 100) -> list[dict]:
        """Messages whose turn failed ``MAX_ATTEMPTS`` times, newest first (masked text, no clear copy)."""
        rows = self.db.all("SELECT * FROM messages WHERE status = 'failed' ORDER BY id DESC LIMIT ?",
                                (limit,))
        return [{**_row(r), "attempts": r["attempts"], "error": r["error"]} for r in rows]

    def purge(self, older_than_days: int, now: datetime | None = None) -> int:
        """Delete messages older than ``older_than_days`` (securely: freed pages are zeroed and the
        write-ahead log is checkpointed and truncated). Returns how many went."""
        cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)).isoformat(
            timespec="microseconds")
        removed = self.db.execute("DELETE FROM messages WHERE created_at < ?", (cutoff,))
        self.db.vacuum_deleted()
        return removed


def _row(row) -> dict:
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

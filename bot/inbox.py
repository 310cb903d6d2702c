"""The durable inbound queue of platform webhooks (Telegram, Zalo).

A webhook is answered as soon as its event is written here (platforms retry slow
webhooks), and ``InboxWorker`` hands the messages to the ``Router`` in the background, in
order per conversation. Guarantees:

- **Once**: ``(channel, platform message id)`` is unique, so a delivery the platform
  repeats (Zalo's ``msg_id``, Telegram's ``update_id``) is accepted once.
- **Never lost once acknowledged**: the row is committed before the webhook answers 200; a
  crash before processing leaves it ``received`` and the worker takes it after restart.
  Rasa being down is the Router's business: it keeps the message as ``pending`` and answers
  when Rasa is back.
- The text as typed is kept here only until the Router has stored it (masked) in the
  history; then it is erased.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Awaitable, Callable

from bot.loops import PollingWorker
from bot.store import now_iso
from channels.base import Inbound

__all__ = ["Inbox", "InboxWorker"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL,
    platform_id     TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    text            TEXT,
    payload         TEXT,
    payload_key     TEXT,
    title           TEXT,
    notice          TEXT,
    status          TEXT NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'done')),
    created_at      TEXT NOT NULL,
    UNIQUE (channel, platform_id)
);
CREATE INDEX IF NOT EXISTS inbox_received ON inbox (status, id);
"""


class Inbox:
    def __init__(self, path: Path | str):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)

    def accept(self, inbound: Inbound) -> bool:
        """Queue one message; False when this platform message was already accepted."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO inbox (channel, platform_id, conversation_id, user_id, text, payload, payload_key, "
                "title, notice, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (channel, platform_id) DO NOTHING",
                (inbound.channel, inbound.message_id, inbound.conversation_id, inbound.user_id, inbound.text,
                 inbound.payload, inbound.payload_key, inbound.title, inbound.notice, now_iso()))
            return cursor.rowcount == 1

    def received(self, limit: int = 100) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM inbox WHERE status = 'received' ORDER BY id LIMIT ?",
                                    (limit,)).fetchall()
        return [dict(r) for r in rows]

    def done(self, inbox_id: int) -> None:
        """Processed: the clear text is erased; the row stays (without text) for deduplication."""
        with self._lock:
            self._db.execute("UPDATE inbox SET status = 'done', text = NULL, payload = NULL, title = NULL "
                             "WHERE id = ?", (inbox_id,))


Handler = Callable[[dict], Awaitable[None]]


class InboxWorker(PollingWorker):
    """Feeds received messages to ``handle(row)``: conversations in parallel, each in order."""

    def __init__(self, inbox: Inbox, handle: Handler, poll_every: float = 1.0):
        self.inbox = inbox
        self.handle = handle
        super().__init__(poll_every)

    async def round(self) -> int:
        return await self.process_received()

    async def process_received(self) -> int:
        rows = await asyncio.to_thread(self.inbox.received)
        by_conversation: dict[str, list[dict]] = {}
        for row in rows:
            by_conversation.setdefault(row["conversation_id"], []).append(row)
        counts = await asyncio.gather(*(self._conversation(batch) for batch in by_conversation.values()))
        return sum(counts)

    async def _conversation(self, rows: list[dict]) -> int:
        for row in rows:
            try:
                await self.handle(row)
            except Exception as error:  # noqa: BLE001 — Router.handle answers politely; this is a bug
                log.error("inbox %s not processed: %s", row["id"], type(error).__name__)
                return 0  # keep order: the rest of this conversation waits for the next round
            await asyncio.to_thread(self.inbox.done, row["id"])
        return len(rows)

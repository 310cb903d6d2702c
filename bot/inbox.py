"""The durable inbound queue of platform webhooks (Telegram, Zalo).

A webhook is answered as soon as its event is written here (the ``inbox`` table of the app's
database, ``bot/db.py``: SQLite or PostgreSQL; platforms retry slow webhooks), and
``InboxWorker`` hands the messages to the ``Router`` in the background, in order per
conversation. Guarantees:

- **Once**: ``(channel, platform message id)`` is unique, so a delivery the platform
  repeats (Zalo's ``msg_id``, Telegram's ``update_id``) is accepted once.
- **Never lost once acknowledged**: the row is committed before the webhook answers 200; a
  crash before processing leaves it ``received`` and the worker takes it after restart.
  Rasa being down is the Router's business: it keeps the message as ``pending`` and answers
  when Rasa is back.
- The text as typed is kept here only until the Router has stored it (masked) in the
  history; then it is erased.
- **One process per conversation**: with several bot app processes on one database, a worker
  *claims* what it hands to the Router (``claim``: ``claimed_by`` / ``claimed_until``, for
  ``CLAIM_SECONDS``), and never takes a message of a conversation another live claim holds, so each
  message is handled once and a conversation's messages stay in order. A process that dies
  mid-message leaves its claim to run out; then another takes the message (it may be answered
  twice if the process died after Rasa answered and before marking it done: said, not hidden).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Awaitable, Callable

from bot import db as dbmod
from bot.loops import PollingWorker
from bot.store import now_iso
from bot.leases import process_id
from channels.base import Inbound

__all__ = ["Inbox", "InboxWorker"]

CLAIM_SECONDS = 120  # well above a turn (RASA_TIMEOUT) times the messages one conversation queues

log = logging.getLogger(__name__)


class Inbox:
    """The inbox table in the app's database at ``path`` (a SQLite file, a SQLAlchemy URL or a
    ``bot.db.Database``). Thread-safe; every method is one short transaction."""

    def __init__(self, path: "Path | str | dbmod.Database", holder: str | None = None):
        self.db = dbmod.database(path)
        self.holder = holder or process_id()

    def accept(self, inbound: Inbound) -> bool:
        """Queue one message; False when this platform message was already accepted."""
        return self.db.execute(
            "INSERT INTO inbox (channel, platform_id, conversation_id, user_id, text, payload, payload_key, "
            "title, notice, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (channel, platform_id) DO NOTHING",
            (inbound.channel, inbound.message_id, inbound.conversation_id, inbound.user_id, inbound.text,
             inbound.payload, inbound.payload_key, inbound.title, inbound.notice, now_iso())) == 1

    def received(self, limit: int = 100) -> list[dict]:
        rows = self.db.all("SELECT * FROM inbox WHERE status = 'received' ORDER BY id LIMIT ?", (int(limit),))
        return [dict(r) for r in rows]

    def claim(self, limit: int = 100, seconds: float = CLAIM_SECONDS) -> list[dict]:
        """Received messages for this process to hand to the Router, oldest first: none of a
        conversation that another process's live claim holds; the ones returned are claimed."""
        now = dt.datetime.now(dt.timezone.utc)
        until = (now + dt.timedelta(seconds=seconds)).isoformat(timespec="microseconds")
        with self.db.write() as tx:
            rows = tx.all("SELECT * FROM inbox WHERE status = 'received' ORDER BY id LIMIT ?", (int(limit),))
            held = {r["conversation_id"] for r in rows
                    if r["claimed_by"] not in (None, self.holder) and (r["claimed_until"] or "") > now.isoformat()}
            mine = [dict(r) for r in rows if r["conversation_id"] not in held]
            for row in mine:
                tx.execute("UPDATE inbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                           (self.holder, until, row["id"]))
        return mine

    def release(self) -> int:
        """Give up this process's claims (it stops): another process takes those messages at once."""
        return self.db.execute("UPDATE inbox SET claimed_by = NULL, claimed_until = NULL"
                               " WHERE claimed_by = ? AND status = 'received'", (self.holder,))

    def done(self, inbox_id: int) -> None:
        """Processed: the clear text is erased; the row stays (without text) for deduplication."""
        self.db.execute("UPDATE inbox SET status = 'done', text = NULL, payload = NULL, title = NULL "
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
        rows = await asyncio.to_thread(self.inbox.claim)
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

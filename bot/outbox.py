"""The durable outbox: every reply and notification to a Telegram or Zalo user goes through it.

A message is written to the ``outbox`` table (the app's database, ``bot/db.py``: SQLite or
PostgreSQL) in the same place the history is written, then ``OutboxWorker`` sends it through
its channel (``channels.base.Channel.send``). Guarantees:

- **Once, in order, per conversation**: only the oldest unsent message of a conversation is
  ever in flight; the next one waits until it is sent or has failed for good.
- **One sender per message, however many workers**: a worker takes the due messages with
  :meth:`Outbox.claim`, which leases them (their ``next_at`` moves ``LEASE_SECONDS`` ahead in
  the same write transaction), so another worker — another thread, or another app process on
  the same PostgreSQL database — does not take them too. Sent, rescheduled, held or failed
  ends the lease; a worker that dies mid-send leaves the message to be taken again when the
  lease runs out.
- **Survives outages and restarts**: a network error, a 5xx, Telegram's 429 (``retry_after``)
  or Zalo's rate limit reschedules the message with exponential backoff and jitter
  (tenacity's ``wait_exponential_jitter``; the attempt count and the next time are stored,
  so a restart resumes where it stopped). After ``MAX_SEND_ATTEMPTS`` it is ``failed`` and
  listed for staff (``python -m bot messages failed``, ``GET /api/staff/messages/failed``).
- **Outside the platform's window** (Zalo: free customer-service messages only for
  ``ZALO_WINDOW_HOURS`` after the citizen's last message) a message is ``held`` and sent when
  the citizen next writes (``release``).
- The text as sent (it may show a number once, e.g. the confirmation summary) is kept only
  until it is sent or failed; the history keeps the masked copy.

Sending itself is at-least-once towards the platform: a crash after the platform accepted a
message but before it is marked sent resends it once, when its lease runs out (platforms
offer no idempotency key for bot messages); everything else is exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import types
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import tenacity

from bot import db as dbmod
from bot.loops import PollingWorker
from channels.base import Channel, ChannelError, Outbound, OutsideWindow, RetryLater

__all__ = ["Outbox", "OutboxWorker", "MAX_SEND_ATTEMPTS", "LEASE_SECONDS"]

log = logging.getLogger(__name__)
MAX_SEND_ATTEMPTS = 12          # with backoff up to 10 minutes: about an hour of outage
_BACKOFF = tenacity.wait_exponential_jitter(initial=1, max=600, jitter=1)
LEASE_SECONDS = 120.0           # a claimed message is another worker's again after this (a send takes seconds)
# The oldest unsent message of each conversation, when it is due.
_DUE = ("SELECT o.* FROM outbox o JOIN (SELECT MIN(id) AS id FROM outbox WHERE status IN ('pending', 'held') "
        "GROUP BY conversation_id) head ON head.id = o.id "
        "WHERE o.status = 'pending' AND o.next_at <= ? ORDER BY o.id LIMIT ?")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def backoff_seconds(attempts: int) -> float:
    """Delay before attempt ``attempts + 1`` (tenacity's exponential backoff with jitter)."""
    return float(_BACKOFF(types.SimpleNamespace(attempt_number=max(1, attempts))))


class Outbox:
    """The outbox table in the app's database at ``path`` (a SQLite file, a SQLAlchemy URL or a
    ``bot.db.Database``). Thread-safe; every method is one short transaction."""

    def __init__(self, path: "Path | str | dbmod.Database", clock: Callable[[], dt.datetime] = _now):
        self.db = dbmod.database(path)
        self._clock = clock

    def now(self) -> dt.datetime:
        return self._clock()

    def enqueue(self, conversation_id: str, channel: str, user_id: str, replies: Iterable[Mapping]) -> list[int]:
        now = _iso(self._clock())
        with self.db.write() as tx:
            return [tx.insert("INSERT INTO outbox (conversation_id, channel, user_id, reply, next_at, created_at) "
                              "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                              (conversation_id, channel, user_id, json.dumps(dict(reply), ensure_ascii=False),
                               now, now))
                    for reply in replies]

    def due(self, limit: int = 50) -> list[dict]:
        """The oldest unsent message of each conversation, if it is due now (a look: nothing is claimed)."""
        return [_row(r) for r in self.db.all(_DUE, (_iso(self._clock()), int(limit)))]

    def claim(self, limit: int = 50, lease: float = LEASE_SECONDS) -> list[dict]:
        """Like :meth:`due`, and those messages are leased for ``lease`` seconds (their ``next_at``
        moves ahead), in one write transaction: no other worker gets them meanwhile."""
        now = self._clock()
        with self.db.write() as tx:
            rows = [_row(r) for r in tx.all(_DUE, (_iso(now), int(limit)))]
            until = _iso(now + dt.timedelta(seconds=lease))
            for row in rows:
                tx.execute("UPDATE outbox SET next_at = ? WHERE id = ?", (until, row["id"]))
        return rows

    def mark_sent(self, outbox_id: int) -> None:
        self._update(outbox_id, "status = 'sent', reply = NULL, sent_at = ?, error = NULL", _iso(self._clock()))

    def reschedule(self, outbox_id: int, reason: str, retry_after: Optional[float] = None) -> str:
        """Count a failed attempt; schedule the next one, or mark it failed. Returns the new status."""
        with self.db.write() as tx:
            attempts = (tx.scalar("SELECT attempts FROM outbox WHERE id = ?", (outbox_id,)) or 0) + 1
            if attempts >= MAX_SEND_ATTEMPTS:
                tx.execute("UPDATE outbox SET status = 'failed', attempts = ?, error = ?, reply = NULL "
                           "WHERE id = ?", (attempts, reason[:200], outbox_id))
                return "failed"
            delay = max(retry_after or 0.0, backoff_seconds(attempts))
            next_at = _iso(self._clock() + dt.timedelta(seconds=delay))
            tx.execute("UPDATE outbox SET attempts = ?, error = ?, next_at = ? WHERE id = ?",
                       (attempts, reason[:200], next_at, outbox_id))
            return "pending"

    def fail(self, outbox_id: int, reason: str) -> None:
        self._update(outbox_id, "status = 'failed', reply = NULL, error = ?, attempts = attempts + 1", reason[:200])

    def hold(self, outbox_id: int, reason: str) -> None:
        """Keep a message until the citizen writes again (``release``)."""
        self._update(outbox_id, "status = 'held', error = ?", reason[:200])

    def release(self, conversation_id: str) -> int:
        """The citizen wrote: held messages of the conversation become due now."""
        return self.db.execute("UPDATE outbox SET status = 'pending', next_at = ? WHERE conversation_id = ? "
                               "AND status = 'held'", (_iso(self._clock()), conversation_id))

    def failed(self, limit: int = 100) -> list[dict]:
        rows = self.db.all("SELECT * FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT ?", (int(limit),))
        return [_row(r) for r in rows]

    def rows(self, conversation_id: Optional[str] = None) -> list[dict]:
        query, params = "SELECT * FROM outbox", []
        if conversation_id is not None:
            query, params = query + " WHERE conversation_id = ?", [conversation_id]
        return [_row(r) for r in self.db.all(query + " ORDER BY id", params)]

    def _update(self, outbox_id: int, assignments: str, *values) -> None:
        self.db.execute(f"UPDATE outbox SET {assignments} WHERE id = ?", (*values, outbox_id))


def _row(row: Mapping) -> dict:
    data = dict(row)
    data["reply"] = json.loads(row["reply"]) if row["reply"] else None
    return data


class OutboxWorker(PollingWorker):
    """Sends due outbox messages through their channels, one at a time per conversation.

    ``last_inbound(conversation_id) -> datetime | None`` tells when the citizen last wrote
    (for channels with a ``window``). ``wake()`` after an enqueue makes it look at once.
    """

    def __init__(self, outbox: Outbox, channels: Mapping[str, Channel],
                 last_inbound: Callable[[str], Optional[dt.datetime]] = lambda cid: None,
                 poll_every: float = 1.0):
        self.outbox = outbox
        self.channels = dict(channels)
        self.last_inbound = last_inbound
        super().__init__(poll_every)

    async def round(self) -> int:
        return await self.send_due()

    async def send_due(self) -> int:
        """One round: send the due head of every conversation (conversations in parallel)."""
        sent = 0
        while True:
            due = await asyncio.to_thread(self.outbox.claim)
            if not due:
                return sent
            results = await asyncio.gather(*(self._send(row) for row in due))
            sent += sum(results)
            if not any(results):
                return sent

    async def _send(self, row: dict) -> bool:
        channel = self.channels.get(row["channel"])
        if channel is None:
            await asyncio.to_thread(self.outbox.reschedule, row["id"], "channel off")
            return False
        window = getattr(channel, "window", None)
        if window is not None:
            last = await asyncio.to_thread(self.last_inbound, row["conversation_id"])
            if last is None or self.outbox.now() - last > window:
                await asyncio.to_thread(self.outbox.hold, row["id"], "outside the platform's window")
                return False
        try:
            await channel.send(row["user_id"], Outbound.from_reply(row["reply"] or {}))
        except OutsideWindow as error:
            await asyncio.to_thread(self.outbox.hold, row["id"], type(error).__name__)
            return False
        except RetryLater as error:
            status = await asyncio.to_thread(self.outbox.reschedule, row["id"], str(error)[:100], error.retry_after)
            log.warning("outbox %s to %s: retry later (%s)", row["id"], row["channel"], status)
            return False
        except ChannelError as error:
            await asyncio.to_thread(self.outbox.fail, row["id"], type(error).__name__)
            log.error("outbox %s to %s failed: %s", row["id"], row["channel"], type(error).__name__)
            return False
        except Exception as error:  # noqa: BLE001 — an unexpected client error: retry with backoff
            await asyncio.to_thread(self.outbox.reschedule, row["id"], type(error).__name__)
            log.error("outbox %s to %s: unexpected %s", row["id"], row["channel"], type(error).__name__)
            return False
        await asyncio.to_thread(self.outbox.mark_sent, row["id"])
        return True

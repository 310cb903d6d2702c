"""Leases: a background loop runs in one process at a time, however many processes serve the bot app.

The bot app may run as several processes (on one machine or several, on one ``DATABASE_URL``).
Its loops — the retry of kept messages, the daily purge, the handover desk's claim time-outs — must
not run in each of them: two processes retrying the same kept message would send it to Rasa twice,
and the citizen would get two answers. Before each round a loop takes its lease for ``ttl`` seconds
(a row in the ``leases`` table, taken in one write transaction: ``bot/db.py`` lets one writer in at a
time on both engines); the holder renews it every round, the others skip theirs. When the holder
stops or dies, its lease runs out and the next process to try takes it over, within ``ttl``.

    leases = Leases(config.app_database)
    if leases.acquire("retry", ttl=90):
        ...  # this process's turn

Times are wall-clock seconds (``time.time``), compared across machines: keep the clocks in sync
(NTP) and ``ttl`` well above any skew (the loops use three rounds).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from typing import Callable

from bot import db as dbmod


def process_id() -> str:
    """This process, unique across machines and restarts: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self, target: "Path | str | dbmod.Database", holder: str | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = dbmod.database(target)
        self.holder = holder or process_id()
        self._clock = clock

    def acquire(self, name: str, ttl: float) -> bool:
        """Take or renew lease ``name`` for ``ttl`` seconds; False when another live holder has it."""
        now = self._clock()
        with self.db.write() as tx:
            row = tx.one("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
            if row is None:
                tx.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)", (name, self.holder, now + ttl))
                return True
            if row["holder"] != self.holder and row["expires_at"] > now:
                return False
            tx.execute("UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?", (self.holder, now + ttl, name))
            return True

    def release(self, name: str) -> None:
        """Give lease ``name`` up (when this process stops), so another takes it at its next round."""
        self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, self.holder))

    def release_all(self) -> None:
        self.db.execute("DELETE FROM leases WHERE holder = ?", (self.holder,))

    def holder_of(self, name: str) -> str | None:
        row = self.db.one("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
        return row["holder"] if row is not None and row["expires_at"] > self._clock() else None

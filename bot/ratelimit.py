"""Persisted rate limits (sliding window) in a small SQLite file shared by every process.

Used for the public routes (per client address, per conversation) and for guesses of the
last 4 phone digits of a dossier (per code, per client, and a global ceiling). Limits
survive a restart and hold across processes on one machine (the scale-out issue moves
them to Redis behind the same interface)::

    limits = RateLimiter(config.limits_db)
    if not limits.allow("ip:203.0.113.7", limit=60, window=60):   # counts this hit
        ... 429
    if limits.blocked("guess-code:HS-2026-7KQ4M9", limit=5, window=3600):  # only looks
        ...
    limits.record("guess-code:HS-2026-7KQ4M9")                    # a wrong guess

Keys may carry personal data (a client address): they are stored as HMAC digests only
when the caller passes ``key_secret``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["RateLimiter"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (
    key TEXT NOT NULL,
    at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at);
"""
KEEP_SECONDS = 24 * 3600  # the longest window any caller uses


class RateLimiter:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time, key_secret: str | None = None):
        self.path = str(path)
        self._clock = clock
        self._secret = key_secret.encode() if key_secret else None
        self._local = threading.local()
        self._last_prune = 0.0
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _write(self):
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _key(self, key: str) -> str:
        if self._secret is None:
            return key
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def _count(conn: sqlite3.Connection, key: str, since: float) -> int:
        return conn.execute("SELECT COUNT(*) FROM hits WHERE key = ? AND at > ?", (key, since)).fetchone()[0]

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        if now - self._last_prune > 600:
            conn.execute("DELETE FROM hits WHERE at < ?", (now - KEEP_SECONDS,))
            self._last_prune = now

    def allow(self, key: str, limit: int, window: float) -> bool:
        """Count one hit for ``key`` unless it already had ``limit`` hits in the last ``window`` s."""
        return self.allow_all([(key, limit, window)])

    def allow_all(self, rules: Iterable[tuple[str, int, float]]) -> bool:
        """One hit on every ``(key, limit, window)`` if none of them is over its limit (atomic)."""
        now, rules = self._clock(), [(self._key(k), n, w) for k, n, w in rules]
        with self._write() as conn:
            if any(self._count(conn, key, now - window) >= limit for key, limit, window in rules):
                return False
            conn.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(key, now) for key, _, _ in rules])
            self._prune(conn, now)
        return True

    def blocked(self, key: str, limit: int, window: float) -> bool:
        """Whether ``key`` already had ``limit`` hits in the last ``window`` seconds (counts nothing)."""
        return self._count(self._conn(), self._key(key), self._clock() - window) >= limit

    def record(self, *keys: str) -> None:
        """Count one hit for each key (e.g. a wrong guess)."""
        now = self._clock()
        with self._write() as conn:
            conn.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(self._key(k), now) for k in keys])
            self._prune(conn, now)

    def reset(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM hits WHERE key = ?", (self._key(key),))

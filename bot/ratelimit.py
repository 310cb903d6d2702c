"""Persisted rate limits (sliding window): a small SQLite file shared by every process on one
machine, or Redis (``REDIS_URL``) shared by every machine.

Used for the public routes (per client address, per conversation), for guesses of the last 4
phone digits of a dossier (per code, per client, and a global ceiling) and for login lock-outs
(``bot/accounts.py``). Limits survive a restart. :func:`for_config` picks the backend: with
several bot app machines a SQLite file would give each its own count, so a deployment with
``REDIS_URL`` counts in Redis (sorted sets, one Lua script per check, so a check and its hit
are one atomic step as in SQLite's ``BEGIN IMMEDIATE``)::

    limits = for_config(config, key_secret=config.derived_secret("rate-limit"))  # or RateLimiter(path)
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

__all__ = ["RateLimiter", "RedisRateLimiter", "for_config"]

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

    def hits(self, keys: Iterable[str]) -> list[tuple[str, float]]:
        """``(key, time)`` of every hit counted for these keys (as given, clear), oldest first: a
        citizen's copy of their data (``bot/privacy.py``)."""
        names = {self._key(k): k for k in keys}
        if not names:
            return []
        rows = self._conn().execute(f"SELECT key, at FROM hits WHERE key IN ({', '.join('?' * len(names))})"
                                    " ORDER BY at", list(names)).fetchall()
        return [(names[key], at) for key, at in rows]

    def forget(self, keys: Iterable[str]) -> int:
        """Delete every hit of these keys, securely (freed pages zeroed, the WAL truncated); how many."""
        names = [self._key(k) for k in keys]
        if not names:
            return 0
        conn = self._conn()
        conn.execute("PRAGMA secure_delete=ON")
        with self._write() as conn:
            removed = conn.execute(f"DELETE FROM hits WHERE key IN ({', '.join('?' * len(names))})", names).rowcount
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed


# KEYS: the rules' keys; ARGV: now, a unique member suffix, then limit and window of each key, then
# "1" to count a hit when none is over its limit ("0": only look). Returns 1 when allowed.
_CHECK = """
local now = tonumber(ARGV[1])
local count = ARGV[#ARGV] == "1"
for i, key in ipairs(KEYS) do
    local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
    redis.call("ZREMRANGEBYSCORE", key, "-inf", now - tonumber(ARGV[2]))
    if redis.call("ZCOUNT", key, "(" .. (now - window), "+inf") >= limit then
        return 0
    end
end
if count then
    local seq = redis.call("INCR", KEYS[1] .. ":seq")
    redis.call("EXPIRE", KEYS[1] .. ":seq", tonumber(ARGV[2]))
    for _, key in ipairs(KEYS) do
        redis.call("ZADD", key, now, now .. ":" .. seq)
        redis.call("EXPIRE", key, tonumber(ARGV[2]))
    end
end
return 1
"""
REDIS_PREFIX = "thtc:rate:"


class RedisRateLimiter(RateLimiter):
    """The same limits in Redis, for several machines (see the module docstring)."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time, key_secret: str | None = None,
                 client=None):
        import redis

        self.path = None
        self._clock = clock
        self._secret = key_secret.encode() if key_secret else None
        self._redis = client or redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._check = self._redis.register_script(_CHECK)

    def _name(self, key: str) -> str:
        return REDIS_PREFIX + self._key(key)

    def _run(self, rules: list[tuple[str, int, float]], count: bool) -> bool:
        args: list = [repr(self._clock()), KEEP_SECONDS]
        for _, limit, window in rules:
            args += [int(limit), float(window)]
        return bool(self._check(keys=[self._name(k) for k, _, _ in rules], args=[*args, "1" if count else "0"]))

    def allow_all(self, rules: Iterable[tuple[str, int, float]]) -> bool:
        return self._run(list(rules), count=True)

    def blocked(self, key: str, limit: int, window: float) -> bool:
        return not self._run([(key, limit, window)], count=False)

    def record(self, *keys: str) -> None:
        if keys:  # no limit can refuse these: a limit above any count
            self._run([(k, 2 ** 31, KEEP_SECONDS) for k in keys], count=True)

    def reset(self, key: str) -> None:
        self._redis.delete(self._name(key))

    def hits(self, keys: Iterable[str]) -> list[tuple[str, float]]:
        found = [(key, float(at)) for key in keys
                 for _, at in self._redis.zrange(self._name(key), 0, -1, withscores=True)]
        return sorted(found, key=lambda hit: hit[1])

    def forget(self, keys: Iterable[str]) -> int:
        names = [self._name(k) for k in keys]
        if not names:
            return 0
        pipe = self._redis.pipeline()
        for name in names:
            pipe.zcard(name)
        counts = pipe.execute()
        self._redis.delete(*names, *(f"{name}:seq" for name in names))
        return int(sum(counts))


def for_config(config, key_secret: str | None = None, clock: Callable[[], float] = time.time,
               path: "Path | str | None" = None) -> RateLimiter:
    """The deployment's limiter: Redis when ``REDIS_URL`` is set, else the SQLite file ``path``
    (default ``config.limits_db``)."""
    if config.redis_url:
        return RedisRateLimiter(config.redis_url, clock=clock, key_secret=key_secret)
    return RateLimiter(path if path is not None else config.limits_db, clock=clock, key_secret=key_secret)

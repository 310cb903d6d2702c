"""Rasa's lock store chosen by one setting: Redis when ``REDIS_URL`` is set, else in memory.

Rasa runs one turn of a conversation at a time by taking a ticket lock on it. With one Rasa
process the in-memory lock store is enough; with several (``RASA_PROCESSES``, or Rasa
processes on several hosts) they must share the locks, or two processes could serve two
messages of one conversation at once and save trackers over each other. Rasa's own
``RedisLockStore`` does that; this class only reads its address from a URL
(``redis://[user:password@]host:port/db``, ``rediss://`` for TLS), parsed by redis-py.

``endpoints.yml`` names this class as ``lock_store.type`` with ``url: ${REDIS_URL}``. Rasa
instantiates a custom lock store class with ``endpoint_config=``; ``__new__`` returns the
stock store that fits (a factory: the returned object is not an instance of this class, so
Python does not call ``__init__``).
"""

from __future__ import annotations

from typing import Any

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from redis.connection import SSLConnection, parse_url

KEY_PREFIX = "tthc"  # Rasa requires an alphanumeric prefix; keys are "tthc:lock:<conversation>"


def lock_store_for(url: str | None) -> LockStore:
    """``RedisLockStore`` for a ``redis://`` URL, ``InMemoryLockStore`` for none."""
    if not url:
        return InMemoryLockStore()
    parts = parse_url(url)
    return RedisLockStore(host=parts.get("host", "localhost"), port=int(parts.get("port", 6379)),
                          db=int(parts.get("db", 0)), username=parts.get("username"),
                          password=parts.get("password"), use_ssl=parts.get("connection_class") is SSLConnection,
                          key_prefix=KEY_PREFIX)


class UrlLockStore(LockStore):
    def __new__(cls, endpoint_config: Any = None, **_: Any) -> LockStore:  # type: ignore[misc]
        return lock_store_for(getattr(endpoint_config, "url", None))

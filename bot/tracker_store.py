"""Rasa's SQL tracker store with an in-process cache of recent conversations.

Stock ``SQLTrackerStore`` reads and JSON-decodes every event of a conversation on each
turn, and counts the stored events again before each save: under load that was about
half of the Rasa process's CPU (py-spy, README "Speed"). Here the cache is write-through:
every event is still written to the database (a conversation survives a restart), reads
of a recently active conversation come from memory, and new events are written in one
INSERT. SQLite runs in WAL mode for cheaper commits, with ``secure_delete`` on, through a pool of
open connections (stock's SQLAlchemy 1.4 default for a file opens one per query).

Several Rasa processes may share the database (``RASA_PROCESSES``, PostgreSQL through
``DATABASE_URL``, Redis lock store: any process serves any turn). A cached copy is then
only used while it is *current*: each cached conversation remembers the highest event id
it has seen, and every read asks the database for the conversation's highest id (one
indexed ``max(id)`` query, no event decoded). When another process has written a turn
since, the conversation is read again. Rasa's lock store runs one turn of a conversation
at a time across processes, so nothing is written between that check and this process's
own save.

The database is stock's: ``endpoints.yml`` gives the whole SQLAlchemy URL as ``url``
(``Settings.tracker_url``: DATABASE_URL, or the SQLite file in the data folder), which stock
``SQLTrackerStore`` takes as it is.

The daily purge (``bot.staff.purge``) deletes events older than DRAFT_RETENTION_DAYS from
the database; a cached conversation whose oldest event is older than that is dropped from
memory and read again, so the cache never keeps what the database no longer has.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import OrderedDict
from typing import Any, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

MAX_CACHED_CONVERSATIONS = 500


def _retention_seconds() -> float:
    return int(os.environ.get("DRAFT_RETENTION_DAYS", 30)) * 86400.0


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _row(sender_id: str, event: Any) -> dict:
    """An ``events`` row, as stock ``SQLTrackerStore.save`` writes it."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


class CachedSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 gives a SQLite file a NullPool: every query of every turn opened the
            # file and ran the pragmas again (a quarter of the Rasa process's CPU under load,
            # py-spy). A small pool keeps the connections; Rasa's event loop and its executor
            # threads may each take one, hence ``check_same_thread=False`` (sqlite3 serialises).
            url = self.engine.url
            if url.database not in (None, "", ":memory:"):
                self.engine.dispose()
                self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=4, max_overflow=8,
                                               connect_args={"check_same_thread": False})
                self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # A database server that restarted (crash, upgrade) leaves dead connections in the pool:
            # test each before use, so the first turn after the restart is served, not failed.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        # sender id → (events of the latest session, highest event id stored for the sender)
        self._events: "OrderedDict[str, tuple[list, Optional[int]]]" = OrderedDict()
        self._retention = _retention_seconds()
        self._max_id = sa.select(sa.func.max(self.SQLEvent.__table__.c.id)).where(
            self.SQLEvent.__table__.c.sender_id == sa.bindparam("sender_id"))

    def _stored_max_id(self, sender_id: str, connection: Any = None) -> Optional[int]:
        if connection is not None:
            return connection.execute(self._max_id, {"sender_id": sender_id}).scalar()
        with self.engine.connect() as own:
            return own.execute(self._max_id, {"sender_id": sender_id}).scalar()

    def _current(self, sender_id: str) -> Optional[list]:
        """The cached events of ``sender_id`` if nothing newer (another process's turn) or older
        (purged) makes them stale; otherwise the cache entry is dropped and ``None`` returned."""
        cached = self._events.get(sender_id)
        if cached is None:
            return None
        events, last_id = cached
        if self._expired(events) or self._stored_max_id(sender_id) != last_id:
            del self._events[sender_id]
            return None
        return events

    def _expired(self, events: list) -> bool:
        """Whether the cached conversation holds events the purge has deleted (or will)."""
        oldest = getattr(events[0], "timestamp", None) if events else None
        return oldest is not None and oldest < time.time() - self._retention

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest conversation session, from memory when this process saved it last."""
        events = self._current(sender_id)
        if events is None:
            last_id = self._stored_max_id(sender_id)
            tracker = await super().retrieve(sender_id)
            if tracker is not None:
                self._remember(sender_id, list(tracker.events), last_id)
            return tracker
        self._events.move_to_end(sender_id)
        return DialogueStateTracker.from_events(sender_id, list(events), self.domain.slots if self.domain else [])

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the new events: those after the ones this process already saved or read."""
        sender_id = tracker.sender_id
        known = self._current(sender_id)
        if known is None:
            await super().save(tracker)  # stock: counts what is stored, then inserts the rest
            last_id = self._stored_max_id(sender_id)
        else:
            await self.stream_events(tracker)
            new = itertools.islice(tracker.events, len(known), len(tracker.events))
            rows = [_row(sender_id, event) for event in new]
            last_id = self._events[sender_id][1]
            if rows:  # one multi-row INSERT instead of one ORM object per event
                with self.engine.begin() as connection:
                    connection.execute(self.SQLEvent.__table__.insert(), rows)
                    last_id = self._stored_max_id(sender_id, connection)
        self._remember(sender_id, list(tracker.events), last_id)

    def _remember(self, sender_id: str, events: list, last_id: Optional[int]) -> None:
        self._events[sender_id] = (events, last_id)
        self._events.move_to_end(sender_id)
        while len(self._events) > MAX_CACHED_CONVERSATIONS:
            self._events.popitem(last=False)

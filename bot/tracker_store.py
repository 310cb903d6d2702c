"""Rasa's SQL tracker store with an in-process cache of recent conversations.

Stock ``SQLTrackerStore`` reads and JSON-decodes every event of a conversation on each
turn, and counts the stored events again before each save: under load that was about
half of the Rasa process's CPU (py-spy, README "Speed"). Rasa serves a conversation from
one process and locks it per turn, so a write-through cache is safe: every event is
still written to SQLite (a conversation survives a restart), but reads of a recently
active conversation come from memory. SQLite runs in WAL mode for cheaper commits.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any, Iterator, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

MAX_CACHED_CONVERSATIONS = 500


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class CachedSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._events: "OrderedDict[str, list]" = OrderedDict()

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest conversation session, from memory when this process saved it last."""
        events = self._events.get(sender_id)
        if events is None:
            tracker = await super().retrieve(sender_id)
            if tracker is not None:
                self._remember(sender_id, list(tracker.events))
            return tracker
        self._events.move_to_end(sender_id)
        return DialogueStateTracker.from_events(sender_id, list(events), self.domain.slots if self.domain else [])

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        self._remember(tracker.sender_id, list(tracker.events))

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """Events not stored yet: those after the ones this process already saved or read."""
        known = self._events.get(tracker.sender_id)
        if known is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, len(known), len(tracker.events))

    def _remember(self, sender_id: str, events: list) -> None:
        self._events[sender_id] = events
        self._events.move_to_end(sender_id)
        while len(self._events) > MAX_CACHED_CONVERSATIONS:
            self._events.popitem(last=False)

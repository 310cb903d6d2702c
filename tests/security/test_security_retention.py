"""The retention period applies to every copy of what citizens typed: the app's messages,
Rasa's events and the tracker store's in-memory cache; deletion is secure."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from bot import settings, staff
from bot.store import MessageStore


def test_messages_older_than_retention_are_purged_securely(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, draft_retention_days=30)
    store = MessageStore(config.app_db)
    old = store.add("web-old", "in", "tôi tên Nguyễn Thị Mai ở 12 Lê Lợi")
    store.add("web-new", "in", "hộ chiếu")
    store.db.execute("UPDATE messages SET created_at = ? WHERE id = ?",
                     ((datetime.now(timezone.utc) - timedelta(days=31)).isoformat(), old))
    assert staff.purge(config, messages=store) == 1
    assert [m["text"] for m in store.history("web-old")] == []
    assert [m["text"] for m in store.history("web-new")] == ["hộ chiếu"]
    assert store.db.scalar("PRAGMA secure_delete") == 1
    for path in tmp_path.glob("bot.db*"):              # the text is not left in free pages or the WAL
        assert "Nguyễn Thị Mai".encode() not in path.read_bytes()


def test_tracker_cache_forgets_what_the_purge_deleted(tmp_path, monkeypatch):
    import asyncio

    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import CachedSQLTrackerStore

    monkeypatch.setenv("DRAFT_RETENTION_DAYS", "30")
    path = tmp_path / "rasa_tracker.db"
    store = CachedSQLTrackerStore(dialect="sqlite", db=str(path))
    old = time.time() - 31 * 86400
    tracker = DialogueStateTracker.from_events("web-t", [UserUttered("số 001090012345", timestamp=old),
                                                         UserUttered("hộ chiếu", timestamp=time.time())])
    asyncio.run(store.save(tracker))
    assert staff.purge_tracker_events(path, 30) == 1
    texts = [e.text for e in asyncio.run(store.retrieve("web-t")).events if isinstance(e, UserUttered)]
    assert texts == ["hộ chiếu"]
    for file in tmp_path.glob("rasa_tracker.db*"):     # deleted securely, WAL checkpointed
        assert b"001090012345" not in file.read_bytes()

"""The audit log of staff access (``bot.access_log.AccessLog``) on both engines (``app_database``:
a SQLite file, then a PostgreSQL database, as with DATABASE_URL). The routes that write it are
tested in ``tests/test_privacy.py``."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.access_log import AccessLog, Accessor

ROUTE = "/console/api/conversations/{conversation_id}"


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def test_entries_are_recorded_with_growing_ids_and_read_newest_first(app_database):
    log = AccessLog(app_database)
    first = log.record("lan.tnv", "volunteer", "conversation", "web-a", ROUTE)
    second = log.record_for(Accessor("thu.canbo", "staff", "/api/staff/dossiers/{code}"), "dossier", "HS-2026-7KQ4M9")
    third = log.record("cli-user", "cli", "privacy_delete", "x" * 500, "privacy delete")
    assert first < second < third
    entries = log.entries()
    assert [e["id"] for e in entries] == [third, second, first]
    assert entries[0]["target"] == "x" * 200 and entries[0]["at"].endswith("+00:00")
    assert [e["target"] for e in log.entries(who="lan.tnv")] == ["web-a"]
    assert [e["who"] for e in log.entries(target="HS-2026-7KQ4M9")] == ["thu.canbo"]
    assert len(log.entries(limit=2)) == 2 and len(log.entries(limit=0)) == 1
    with pytest.raises(ValueError):
        log.record("lan.tnv", "volunteer", "messages", "web-a", ROUTE)
    assert len(log.entries()) == 3


def test_entries_written_at_once_from_threads_all_arrive_with_distinct_ids(app_database):
    log = AccessLog(app_database)
    start = threading.Barrier(8)

    def record(n):
        start.wait(timeout=30)
        return [log.record(f"tnv.{n}", "volunteer", "conversation", f"web-{n}-{k}", ROUTE) for k in range(5)]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for batch in pool.map(record, range(8)) for i in batch]
    assert len(set(ids)) == 40
    assert sorted(e["id"] for e in log.entries(limit=100)) == sorted(ids)


def test_purge_deletes_only_the_entries_past_retention(app_database):
    clock = Clock()
    log = AccessLog(app_database, clock=clock)
    log.record("lan.tnv", "volunteer", "conversation", "web-old", ROUTE)
    clock.now += dt.timedelta(days=300)
    log.record("lan.tnv", "volunteer", "conversation", "web-new", ROUTE)
    clock.now += dt.timedelta(days=100)
    assert log.purge(365) == 1
    assert [e["target"] for e in log.entries()] == ["web-new"]
    assert log.purge(365) == 0
    if log.db.is_sqlite:   # nothing of the deleted entry is left in the write-ahead log
        wal = log.db.path.with_name(log.db.path.name + "-wal")
        assert not wal.exists() or b"web-old" not in wal.read_bytes()

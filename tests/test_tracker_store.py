"""The cached SQL tracker store: same conversations as stock, nothing lost or duplicated."""

import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import ROOT
from bot.tracker_store import CachedSQLTrackerStore


def store(path):
    return CachedSQLTrackerStore(domain=Domain.load(str(ROOT / "domain.yml")), dialect="sqlite", db=str(path))


def turn(tracker, text):
    tracker.update(UserUttered(text, {"name": "ask_fee", "confidence": 1.0}))
    tracker.update(ActionExecuted("action_answer_procedure"))
    tracker.update(BotUttered("Lệ phí: 200.000 đồng"))
    tracker.update(SlotSet("procedure", "ho-chieu"))
    tracker.update(ActionExecuted("action_listen"))


def rows(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE sender_id = 'c1'").fetchone()[0]


async def test_cached_turns_are_written_once_and_survive_a_restart(tmp_path):
    path = tmp_path / "tracker.db"
    first = store(path)
    tracker = DialogueStateTracker("c1", first.domain.slots)
    turn(tracker, "lệ phí làm hộ chiếu")
    await first.save(tracker)
    again = await first.retrieve("c1")  # from the cache
    assert [e.as_dict() for e in again.events] == [e.as_dict() for e in tracker.events]
    turn(again, "còn căn cước?")
    await first.save(again)
    assert rows(path) == 10
    restarted = store(path)  # a new process: reads SQLite
    loaded = await restarted.retrieve("c1")
    assert len(loaded.events) == 10 and loaded.get_slot("procedure") == "ho-chieu"
    turn(loaded, "cảm ơn")
    await restarted.save(loaded)
    assert rows(path) == 15
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_conversation_served_by_another_process_is_read_again_not_from_a_stale_cache(tmp_path):
    """Two Rasa processes on one database (RASA_PROCESSES=2): each sees the other's turns."""
    path = tmp_path / "tracker.db"
    url = f"sqlite:///{path}"
    one = CachedSQLTrackerStore(domain=Domain.load(str(ROOT / "domain.yml")), host=url)
    two = CachedSQLTrackerStore(domain=Domain.load(str(ROOT / "domain.yml")), host=url)
    tracker = DialogueStateTracker("c1", one.domain.slots)
    turn(tracker, "lệ phí làm hộ chiếu")
    await one.save(tracker)                       # process one serves turn 1 (and caches it)
    on_two = await two.retrieve("c1")
    assert len(on_two.events) == 5
    turn(on_two, "còn căn cước?")
    on_two.update(SlotSet("procedure", "can-cuoc"))
    await two.save(on_two)                        # process two serves turn 2
    back_on_one = await one.retrieve("c1")        # process one's cache is stale: read again
    assert len(back_on_one.events) == 11 and back_on_one.get_slot("procedure") == "can-cuoc"
    turn(back_on_one, "cảm ơn")
    await one.save(back_on_one)
    assert rows(path) == 16                       # nothing written twice, nothing lost
    again_on_two = await two.retrieve("c1")
    assert [e.as_dict() for e in again_on_two.events] == [e.as_dict() for e in back_on_one.events]

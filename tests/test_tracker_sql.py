"""Rasa's tracker events read and purged through a SQLAlchemy URL (``bot.readonly_db.tracker_engine``),
the same on SQLite (the default, a file in BOT_DATA_DIR) and on a real PostgreSQL (DATABASE_URL).

The ``events`` table is created and written by Rasa's own ``SQLTrackerStore``, as in production.
Each test runs once per backend and asserts the same results."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import clock, learning, readonly_db
from bot.dashboard import dashboard
from bot.learning.inbox import tracker_parses
from bot.settings import ROOT, Settings
from bot.staff import purge_tracker_events
from bot.store import MessageStore
from tests.servers import create_database

BACKENDS = ["sqlite", "postgresql"]
DAY = 86400


@pytest.fixture(scope="module")
def rasa_domain():
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(params=BACKENDS)
def tracker(request, tmp_path, rasa_domain):
    """(tracker URL as ``Settings.tracker_url`` gives it, Rasa's SQLTrackerStore writing there)."""
    if request.param == "sqlite":
        path = tmp_path / "rasa_tracker.db"
        url = f"sqlite:///{path}"
        store = SQLTrackerStore(domain=rasa_domain, dialect="sqlite", db=str(path))
    else:
        url = create_database(request.getfixturevalue("postgres_url"), f"tracker_{uuid.uuid4().hex[:12]}")
        parsed = sa.engine.make_url(url)
        store = SQLTrackerStore(domain=rasa_domain, dialect="postgresql", host=parsed.host, port=parsed.port,
                                db=parsed.database, username=parsed.username)
    assert store.engine.dialect.name == request.param
    yield url, store
    store.engine.dispose()


def save(store, sender_id: str, events: list) -> None:
    asyncio.run(store.save(DialogueStateTracker.from_events(sender_id, events)))


def texts(store, sender_id: str) -> list[str]:
    tracker = asyncio.run(store.retrieve_full_tracker(sender_id))
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_settings_tracker_url_names_the_sqlite_file_or_database_url(tmp_path):
    base = dict(host="127.0.0.1", port=1, rasa_port=2, actions_port=3, data_dir=tmp_path, model=tmp_path / "m",
                rasa_timeout=10, max_message_chars=2000)
    assert Settings(**base).tracker_url == f"sqlite:///{tmp_path / 'rasa_tracker.db'}"
    assert readonly_db.sqlite_path(Settings(**base).tracker_url) == tmp_path / "rasa_tracker.db"
    assert Settings(**base, database_url="postgresql://bot@db/bot").tracker_url == "postgresql://bot@db/bot"


def test_purge_deletes_old_events_and_keeps_new_ones(tracker):
    url, store = tracker
    now = time.time()
    save(store, "web-old", [UserUttered("số 0912345678", timestamp=now - 31 * DAY),
                            ActionExecuted("action_listen", timestamp=now - 31 * DAY),
                            UserUttered("hộ chiếu", timestamp=now - DAY)])
    save(store, "web-new", [UserUttered("xin chào", timestamp=now - 29 * DAY)])

    assert purge_tracker_events(url, 30, now=now) == 2
    assert texts(store, "web-old") == ["hộ chiếu"]
    assert texts(store, "web-new") == ["xin chào"]
    assert purge_tracker_events(url, 30, now=now) == 0
    assert purge_tracker_events(url, 0, now=now + 1) == 2   # everything older than now


def test_purge_of_a_store_without_events_deletes_nothing(tmp_path, postgres_url):
    assert purge_tracker_events(tmp_path / "missing.db", 30) == 0          # Rasa never started
    assert purge_tracker_events(f"sqlite:///{tmp_path / 'missing.db'}", 30) == 0
    assert not (tmp_path / "missing.db").exists()                           # and nothing was created
    empty = create_database(postgres_url, f"empty_{uuid.uuid4().hex[:12]}")  # a database, no tables yet
    assert purge_tracker_events(empty, 30) == 0


def parse(intent: str, confidence: float, best: str | None = None, procedure: str | None = None) -> dict:
    ranking = [{"name": intent, "confidence": confidence}] + ([{"name": best, "confidence": 0.3}] if best else [])
    return {"intent": ranking[0], "intent_ranking": ranking, "entities": [],
            "procedure_candidates": [{"id": procedure}] if procedure else []}


def said(text: str, message_id: int, when: float, **kwargs) -> UserUttered:
    data = parse(**kwargs)
    return UserUttered(text, data["intent"], [], parse_data=data, timestamp=when,
                       metadata={"channel": "web", "message_id": message_id})


def test_tracker_parses_reads_the_nlu_of_our_messages(tracker):
    url, store = tracker
    now = time.time()
    save(store, "web-a", [said("làm thẻ bhyt ở đâu", 11, now - 60, intent="nlu_fallback", confidence=0.4,
                               best="ask_where"),
                          said("đăng ký xe", 12, now - 50, intent="ask_papers", confidence=0.9,
                               procedure="dang-ky-xe"),
                          said("cũ quá", 10, now - 10 * DAY, intent="greet", confidence=0.9)])
    save(store, "web-form", [SlotSet("dossier_active", True, timestamp=now - 40),
                             said("Nguyễn Văn Bình", 13, now - 30, intent="inform", confidence=0.3),
                             SlotSet("dossier_active", False, timestamp=now - 20),
                             said("lệ phí", 14, now - 10, intent="ask_fee", confidence=0.5)])

    found = tracker_parses(url, since=now - DAY)
    assert found == {
        11: {"intent": "nlu_fallback", "confidence": 0.4, "best": "ask_where", "procedure": None, "in_form": False},
        12: {"intent": "ask_papers", "confidence": 0.9, "best": "ask_papers", "procedure": "dang-ky-xe",
             "in_form": False},
        13: {"intent": "inform", "confidence": 0.3, "best": "inform", "procedure": None, "in_form": True},
        14: {"intent": "ask_fee", "confidence": 0.5, "best": "ask_fee", "procedure": None, "in_form": False},
    }
    assert set(tracker_parses(url)) == {10, 11, 12, 13, 14}


def test_collect_finds_the_misses_through_the_tracker_url(tracker, tmp_path):
    url, store = tracker
    messages = MessageStore(tmp_path / "bot.db")
    now = time.time()
    missed = messages.add("web-f", "in", "làm thẻ bhyt ở đâu")
    messages.add("web-f", "out", "Xin lỗi, mình chưa hiểu ý bạn.")
    unsure = messages.add("web-l", "in", "xin giấy phép bán hàng rong")
    understood = messages.add("web-ok", "in", "làm hộ chiếu cần giấy tờ gì")
    save(store, "web-f", [said("làm thẻ bhyt ở đâu", missed, now, intent="nlu_fallback", confidence=0.4,
                               best="ask_where")])
    save(store, "web-l", [said("xin giấy phép bán hàng rong", unsure, now, intent="ask_procedure",
                               confidence=0.45)])
    save(store, "web-ok", [said("làm hộ chiếu cần giấy tờ gì", understood, now, intent="ask_papers",
                                confidence=0.97)])

    found = {s.message_id: (s.reasons, s.intent) for s in learning.collect(tmp_path / "bot.db", url)}
    assert found == {missed: ({"fallback"}, "ask_where"), unsure: ({"low_confidence"}, "ask_procedure")}


def test_dashboard_counts_the_nlu_figures_through_the_tracker_url(tracker, tmp_path):
    url, store = tracker
    today = clock.today()
    noon = dt.datetime.combine(today, dt.time(12), clock.VN_TZ).timestamp()
    week_ago = noon - 7 * DAY

    def user(text, intent, procedure=None, when=noon):
        entities = [{"entity": "procedure", "value": procedure, "start": 0, "end": 1}] if procedure else []
        return [UserUttered(text, {"name": intent, "confidence": 0.9}, entities, timestamp=when),
                ActionExecuted("action_listen", timestamp=when)]

    save(store, "web-a", user("lệ phí hộ chiếu", "ask_fee", "ho-chieu") + user("cảm ơn", "thank")
         + user("/affirm", "affirm") + user("trước đó", "greet", when=week_ago))
    save(store, "zalo:9", user("abc xyz", "nlu_fallback") + user("hộ chiếu bao nhiêu", "ask_fee", "ho-chieu"))

    result = dashboard(tmp_path / "no-app.db", url, days=7, today=today)   # the app's store: none yet
    assert result["rows"][-1]["date"] == today.isoformat()
    assert result["rows"][-1]["turns"] == 4 and result["rows"][-1]["fallbacks"] == 1
    assert result["totals"]["turns"] == 4 and result["totals"]["fallback_rate"] == 0.25
    assert result["top_intents"][0] == {"intent": "ask_fee", "count": 2}
    assert {i["intent"] for i in result["top_intents"]} == {"ask_fee", "thank", "nlu_fallback"}
    assert result["top_procedures"] == [{"id": "ho-chieu", "name": "ho-chieu", "count": 2}]


def test_a_read_only_tracker_engine_cannot_write(tracker):
    url, store = tracker
    save(store, "web-a", [UserUttered("xin chào", timestamp=time.time())])
    with readonly_db.open_tracker(url) as engine:
        assert engine is not None and engine.dialect.name == store.engine.dialect.name
        with pytest.raises(sa.exc.DBAPIError, match=r"read-?only"), engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM events"))
    assert texts(store, "web-a") == ["xin chào"]


def test_a_store_that_does_not_exist_yet_reads_as_empty(tmp_path, postgres_url):
    missing = tmp_path / "rasa_tracker.db"
    assert readonly_db.tracker_engine(missing) is None
    with readonly_db.open_tracker(f"sqlite:///{missing}") as engine:
        assert engine is None
    assert not missing.exists()
    empty = create_database(postgres_url, f"empty_{uuid.uuid4().hex[:12]}")
    with readonly_db.open_tracker(empty) as engine:
        assert engine is None                      # no ``events`` table yet
    assert tracker_parses(empty) == {}
    assert dashboard(tmp_path / "no-app.db", empty, days=2)["totals"]["turns"] == 0

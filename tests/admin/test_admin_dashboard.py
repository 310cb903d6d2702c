"""The staff dashboard: figures from the real stores (messages, Rasa's tracker store,
handovers, dossiers; the app's data on both engines), over HTTP for staff, as CSV, and refused
to volunteers."""

from __future__ import annotations

import csv
import datetime as dt
import io

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import clock
from bot.dashboard import dashboard
from bot.dossiers import DossierStore
from bot.handover.store import HandoverStore
from bot.settings import ROOT
from bot.store import MessageStore
from bot.tracker_store import CachedSQLTrackerStore


def user(tracker, text, intent, procedure=None):
    entities = [{"entity": "procedure", "value": procedure, "start": 0, "end": 1}] if procedure else []
    tracker.update(UserUttered(text, {"name": intent, "confidence": 0.9}, entities))
    tracker.update(ActionExecuted("action_listen"))


async def seed(config, app_database=None):
    """Messages, Rasa's events (SQLite), a handover and a dossier; the app's data in ``app_database``
    (``config.app_db`` if None)."""
    app_database = app_database or config.app_db
    messages = MessageStore(app_database)
    for cid, channel, texts in [("web-a", "web", ["lệ phí hộ chiếu", "cảm ơn"]),
                                ("telegram:1", "telegram", ["làm căn cước ở đâu"]),
                                ("zalo:9", "zalo", ["abc xyz"])]:
        for text in texts:
            messages.add(cid, "in", text, channel=channel)
    store = CachedSQLTrackerStore(domain=Domain.load(str(ROOT / "domain.yml")), dialect="sqlite",
                                  db=str(config.tracker_db))
    a = DialogueStateTracker("web-a", store.domain.slots)
    user(a, "lệ phí hộ chiếu", "ask_fee", "ho-chieu")
    user(a, "cảm ơn", "thank")
    user(a, "/affirm", "affirm")                      # a button press is not counted
    b = DialogueStateTracker("telegram:1", store.domain.slots)
    user(b, "làm căn cước ở đâu", "ask_where", "cap-cccd")
    user(b, "hộ chiếu bao nhiêu tiền", "ask_fee", "ho-chieu")
    c = DialogueStateTracker("zalo:9", store.domain.slots)
    user(c, "abc xyz", "nlu_fallback")
    for tracker in (a, b, c):
        await store.save(tracker)
    handovers = HandoverStore(app_database)
    handovers.request("zalo:9", "zalo", "fallback")
    handovers.close()
    DossierStore(app_database).create("ho-chieu", "web-a", {"full_name": "Trần Văn Bảo"}, form_id="lien-he")


async def test_figures_from_the_real_stores(admin_config, app_database):
    await seed(admin_config, app_database)
    result = dashboard(app_database, admin_config.tracker_db, days=7, today=clock.today())
    today = result["rows"][-1]
    assert len(result["rows"]) == 7 and today["date"] == clock.today().isoformat()
    assert today["conversations"] == 3 and today["by_channel"] == {"telegram": 1, "web": 1, "zalo": 1}
    assert today["citizen_messages"] == 4
    assert today["turns"] == 5 and today["fallbacks"] == 1 and today["fallback_rate"] == 0.2
    assert today["handovers"] == 1 and abs(today["handover_rate"] - 1 / 3) < 1e-3
    assert result["top_intents"][0] == {"intent": "ask_fee", "count": 2}
    assert result["top_procedures"][0] == {"id": "ho-chieu", "name": "ho-chieu", "count": 2}
    assert result["dossiers_by_state"] == [{"state": "nhap", "label": "Nháp", "count": 1}]
    assert all(r["conversations"] == 0 for r in result["rows"][:-1])
    # a dossier made before the window counts by state, not as created in it
    month_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    DossierStore(app_database, clock=lambda: month_ago).create("ho-chieu", "web-b", {"full_name": "Lê C"},
                                                               form_id="lien-he")
    result = dashboard(app_database, admin_config.tracker_db, days=7, today=clock.today())
    assert result["dossiers_by_state"] == [{"state": "nhap", "label": "Nháp", "count": 2}]
    assert result["totals"]["dossiers_created"] == 1 and result["rows"][-1]["dossiers_created"] == 1


def test_an_empty_install_has_zero_figures(admin_config):
    result = dashboard(admin_config.app_db, admin_config.tracker_db, days=3)
    assert result["totals"]["conversations"] == 0 and result["totals"]["fallback_rate"] is None
    assert [r["turns"] for r in result["rows"]] == [0, 0, 0]


async def test_staff_get_json_and_csv_volunteers_get_403(admin_config, login):
    await seed(admin_config)
    staff = login("staff")
    answer = staff.get("/admin/api/dashboard?days=7")
    assert answer.status_code == 200
    assert answer.json()["top_procedures"][0]["name"].startswith("Cấp hộ chiếu")
    download = staff.get("/admin/api/dashboard?days=7&format=csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0][0] == "Ngày" and rows[-1][0] == "Tổng" and len(rows) == 1 + 7 + 1
    assert rows[-1][1] == "3"
    assert staff.get("/admin/api/dashboard?days=0").status_code == 400
    assert staff.get("/admin/api/dashboard?days=abc").status_code == 400
    assert login("volunteer").get("/admin/api/dashboard").status_code == 403

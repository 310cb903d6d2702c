"""One citizen's data on request (``bot.privacy``): found by dossier code, conversation or platform
user; exported from every store and nothing of another citizen; deleted from every store (checked
on the raw SQLite files) leaving the other citizen whole; the CLI and the admin API around it; and
the access log of staff reading conversations and dossiers (``bot.access_log``).

Finding, export and deletion run on both engines (``engine_config``: the SQLite files, or the app's
data and Rasa's events in one PostgreSQL database as with DATABASE_URL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import json
import os
import stat
from dataclasses import replace

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bot import privacy, readonly_db, settings, staff
from bot.access_log import AccessLog, Accessor
from bot.accounts import AccountStore
from bot.app import create_app
from bot.dossiers import DossierStore
from bot.handover.store import HandoverStore
from bot.inbox import Inbox
from bot.learning.inbox import LearningStore
from bot.outbox import Outbox
from bot.ratelimit import RateLimiter
from bot.settings import ROOT
from bot.store import MessageStore
from channels.base import Inbound
from tests.admin.conftest import FAST, PASSWORD, USERS, Browser
from tests.conftest import free_port

TOKEN = "staff-token-for-privacy-tests-0123"
ADMIN = Accessor("quan.tri", "admin", "test")


class Citizen:
    def __init__(self, user_id: str, name: str, personal_id: str, token: str):
        self.user_id, self.name, self.personal_id, self.token = user_id, name, personal_id, token
        self.cid = f"telegram:{user_id}"
        self.code = None
        self.out_id = None


A = Citizen("111222333", "Nguyễn Thị Hồng Nhung", "001190012345", "zebra-a-7319")
B = Citizen("444555666", "Trần Văn Khải", "079088054321", "zebra-b-4682")


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), secret_override="test-secret",
                   staff_token=TOKEN, rate_limit_per_minute=0, conversation_rate_per_minute=0, office_hours="always")


@pytest.fixture
def engine_config(config, app_database):
    """``config`` on each engine: its SQLite files (``app_database`` is ``config.app_db`` then), or
    DATABASE_URL on a fresh PostgreSQL database (the app's data and Rasa's events, as deployed)."""
    if "://" in str(app_database):
        return replace(config, database_url=app_database)
    assert app_database == config.app_db
    return config


def on_sqlite(config) -> bool:
    return not config.database_url


@pytest.fixture(scope="module")
def rasa_domain():
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml"))


def tracker_store(config, rasa_domain):
    from rasa.core.tracker_store import SQLTrackerStore

    if config.database_url:
        parsed = sa.engine.make_url(config.database_url)
        return SQLTrackerStore(domain=rasa_domain, dialect="postgresql", host=parsed.host, port=parsed.port,
                               db=parsed.database, username=parsed.username)
    return SQLTrackerStore(domain=rasa_domain, dialect="sqlite", db=str(config.tracker_db))


def write_tracker(config, rasa_domain, citizen: Citizen) -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    store = tracker_store(config, rasa_domain)
    events = [ActionExecuted("action_listen"),
              UserUttered(f"tôi là {citizen.name}, số {citizen.personal_id} {citizen.token}",
                          {"name": "greet", "confidence": 0.9}),
              BotUttered(f"chào {citizen.token}")]
    asyncio.run(store.save(DialogueStateTracker.from_events(citizen.cid, events)))
    store.engine.dispose()


def populate(config, citizen: Citizen, rasa_domain=None) -> Citizen:
    """A row for ``citizen`` in every store, each holding its name, ID number or token."""
    messages = MessageStore(config.app_database)
    messages.add(citizen.cid, "in", f"tôi là {citizen.name} {citizen.token}", channel="telegram",
                 status="pending", pending_text=f"số {citizen.personal_id} {citizen.token}")
    citizen.out_id = messages.add(citizen.cid, "out", f"chào {citizen.name}", channel="telegram")
    dossiers = DossierStore(config.app_database)
    answers = {"full_name": citizen.name, "birth_date": "1990-03-12", "personal_id": citizen.personal_id,
               "phone": "0912345678",
               "note": citizen.token}
    dossier = dossiers.create("ho-chieu", citizen.cid, answers, form_id="TK01", phone="0912345678")
    dossiers.transition(dossier.code, "da_nop", actor="citizen", note=f"nộp {citizen.token}")
    dossiers.save_draft(citizen.cid, "tam-tru", {"full_name": citizen.name, "x": citizen.token})
    citizen.code = dossier.code
    handovers = HandoverStore(config.app_database)
    handover, _ = handovers.request(citizen.cid, "telegram", "asked")
    handovers.add_note(citizen.cid, "lan.tnv", f"ghi chú về {citizen.name} {citizen.token}", handover.id)
    handovers.add_callback(citizen.cid, "telegram", f"gọi lại {citizen.token}", "0912345678", None)
    handovers.start_callback(citizen.cid)
    handovers.close()
    Inbox(config.app_database).accept(Inbound(channel="telegram", user_id=citizen.user_id,
                                              message_id=f"m-{citizen.user_id}",
                                              text=f"tin {citizen.name} {citizen.token}"))
    Outbox(config.app_database).enqueue(citizen.cid, "telegram", citizen.user_id,
                                  [{"text": f"trả lời {citizen.token}", "buttons": []}])
    learning = LearningStore(config.app_database)
    assert learning.flag(citizen.cid, citizen.out_id, "lan.tnv")
    learning.close()
    RateLimiter(config.limits_db, key_secret=config.derived_secret("rate-limit")).allow(
        f"conversation:{citizen.cid}", 100, 60)
    RateLimiter(config.limits_db, key_secret=config.derived_secret("rate-limit-keys")).allow(
        f"guess-client:{citizen.cid}", 100, 3600)
    if rasa_domain is not None:
        write_tracker(config, rasa_domain, citizen)
    return citizen


def raw(config, pattern: str) -> bytes:
    return b"".join(path.read_bytes() for path in config.data_dir.glob(pattern))


def secrets_of(citizen: Citizen) -> list[bytes]:
    return [citizen.name.encode(), citizen.personal_id.encode(), citizen.token.encode()]


# --- finding --------------------------------------------------------------------------------------

def test_a_citizen_is_found_by_dossier_code_conversation_or_platform_user(engine_config):
    config = engine_config
    populate(config, A)
    populate(config, B)
    assert privacy.find_citizen(config, dossier_code=A.code.lower().replace("-", " ")) == {A.cid}
    assert privacy.find_citizen(config, conversation_id=B.cid) == {B.cid}
    assert privacy.find_citizen(config, channel_user=("telegram", A.user_id)) == {A.cid}
    assert privacy.find_citizen(config, channel_user=A.cid) == {A.cid}
    assert privacy.find_citizen(config, conversation_id="web-nobody") == set()
    assert privacy.find_citizen(config, dossier_code="HS-2026-AAAAAA") == set()
    for bad in ({}, {"conversation_id": A.cid, "dossier_code": A.code}, {"conversation_id": "a b"},
                {"dossier_code": "không phải mã"}, {"channel_user": "facebook:1"}):
        with pytest.raises(privacy.BadRequest):
            privacy.find_citizen(config, **bad)


# --- export ---------------------------------------------------------------------------------------

def test_export_has_every_store_of_the_citizen_and_nothing_of_another(engine_config, rasa_domain):
    config = engine_config
    populate(config, A, rasa_domain)
    populate(config, B, rasa_domain)
    data = privacy.export_citizen(config, dossier_code=A.code, by=ADMIN)
    assert data["conversations"] == [A.cid]
    for store in privacy.STORE_LABELS:
        assert data["stores"][store], f"{store} is empty in the export"
    text = json.dumps(data, ensure_ascii=False)
    json.loads(text)   # JSON-able
    for secret in (B.name, B.personal_id, B.token, B.cid, B.code):
        assert secret not in text
    dossier = data["stores"]["dossiers"][0]
    assert dossier["code"] == A.code and dossier["answers"]["personal_id"] == A.personal_id   # in clear
    assert [e["to_state"] for e in data["stores"]["dossier_events"]] == ["nhap", "da_nop"]
    assert data["stores"]["messages"][0]["pending_text"] == f"số {A.personal_id} {A.token}"
    assert {r["kind"] for r in data["stores"]["rate_limits"]} == {"conversation", "guess-client"}
    user = [e for e in data["stores"]["tracker_events"] if e["type_name"] == "user"]
    assert user and A.personal_id in user[0]["data"]["text"] and {e["sender_id"] for e in user} == {A.cid}
    # the export itself is in the audit log, with the id only
    assert AccessLog(config.app_database).entries(target=A.code)[0] | {"id": 0, "at": ""} == {
        "id": 0, "at": "", "who": "quan.tri", "role": "admin", "what": "privacy_export", "target": A.code,
        "route": "test"}


def test_export_of_nobody_is_empty(engine_config):
    config = engine_config
    populate(config, B)
    data = privacy.export_citizen(config, conversation_id=A.cid)
    assert data["conversations"] == [] and not any(data["stores"].values())


# --- deletion -------------------------------------------------------------------------------------

def test_delete_removes_the_citizen_from_every_store_and_keeps_the_other(engine_config, rasa_domain):
    config = engine_config
    populate(config, A, rasa_domain)
    populate(config, B, rasa_domain)
    handovers = HandoverStore(config.app_database)
    handovers.claim(A.cid, "lan.tnv", "phuong-ben-thanh")      # a volunteer has A's chat right now
    handovers.close()
    result = privacy.delete_citizen(config, conversation_id=A.cid, by=ADMIN)
    assert result["conversations"] == [A.cid] and result["closed_handovers"] == 1
    assert all(result["counts"][store] >= 1 for store in privacy.STORE_LABELS), result["counts"]
    assert result["counts"]["messages"] == 2 and result["counts"]["dossier_events"] == 2
    # nothing of A is left in any store; B is whole
    assert privacy.find_citizen(config, conversation_id=A.cid) == set()
    assert not any(privacy.export_citizen(config, conversation_id=A.cid)["stores"].values())
    after = privacy.export_citizen(config, conversation_id=B.cid)
    assert all(after["stores"][store] for store in privacy.STORE_LABELS)
    # nor in the raw files: free pages zeroed, WAL truncated (PostgreSQL: its vacuum reclaims the rows)
    limits = raw(config, "limits.db*")
    if on_sqlite(config):
        app, tracker = raw(config, "bot.db*"), raw(config, "rasa_tracker.db*")
        for secret in secrets_of(A):
            assert secret not in app
        assert A.personal_id.encode() not in tracker and A.token.encode() not in tracker
        assert B.personal_id.encode() in tracker and B.name.encode() in app
    def digests(cid):   # the keys as the limiters store them (HMAC digests)
        return [limiter._key(key) for limiter, keys in privacy._rate_limits(config, [cid]) for key in keys]

    assert not any(d.encode() in limits for d in digests(A.cid))
    assert any(d.encode() in limits for d in digests(B.cid))
    # the handover was closed, then deleted; consoles get an event without any id
    handovers = HandoverStore(config.app_database)
    assert handovers.open_for(A.cid) is None and handovers.latest_for(A.cid) is None
    erased = [e for e in handovers.events() if e["kind"] == "erased"]
    assert erased and erased[0]["conversation_id"] == "" and erased[0]["actor"] == "quan.tri"
    assert handovers.open_for(B.cid) is not None
    assert AccessLog(config.app_database).entries()[0]["what"] == "privacy_delete"
    # deleting again finds nothing
    assert privacy.delete_citizen(config, conversation_id=A.cid)["conversations"] == []


def test_delete_by_dossier_code_takes_the_whole_conversation(engine_config):
    config = engine_config
    populate(config, A)
    populate(config, B)
    result = privacy.delete_citizen(config, dossier_code=A.code)
    assert result["conversations"] == [A.cid]
    dossiers, messages = DossierStore(config.app_database), MessageStore(config.app_database)
    assert dossiers.get(A.code) is None and dossiers.get(B.code) is not None
    assert messages.history(A.cid) == [] and messages.history(B.cid)


def test_a_failing_database_is_left_whole(engine_config, monkeypatch):
    config = engine_config
    populate(config, A)
    monkeypatch.setattr(privacy, "find_citizen", lambda config, **request: {A.cid})
    monkeypatch.setattr(privacy, "APP_TABLES", privacy.APP_TABLES + ("no_such_table",))   # the last DELETE fails
    with pytest.raises(Exception):
        privacy.delete_citizen(config, conversation_id=A.cid)
    monkeypatch.undo()
    assert len(MessageStore(config.app_database).history(A.cid)) == 2, "the app database was half deleted"
    assert DossierStore(config.app_database).get(A.code) is not None
    assert privacy.delete_citizen(config, conversation_id=A.cid)["counts"]["messages"] == 2   # run again: done


def test_two_deletions_of_one_citizen_at_once_delete_each_row_once(engine_config):
    """Two admins delete the same citizen at the same moment: both succeed, each row is deleted
    by exactly one of them (the app's deletion is one write transaction, one writer at a time)."""
    config = engine_config
    populate(config, A)
    populate(config, B)
    start, results, errors = threading.Barrier(2), [], []

    def delete():
        start.wait()
        try:
            results.append(privacy.delete_citizen(config, conversation_id=A.cid))
        except Exception as error:   # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    counts = [result["counts"] for result in results if result["conversations"]]
    for table in ("messages", "dossiers", "dossier_events", "form_drafts", "handovers", "inbox", "outbox"):
        assert sum(c[table] for c in counts) == (2 if table in ("messages", "dossier_events") else 1), table
    assert sum(result["closed_handovers"] for result in results) == 1
    assert privacy.find_citizen(config, conversation_id=A.cid) == set()
    assert all(privacy.export_citizen(config, conversation_id=B.cid)["stores"][table] for table in privacy.APP_TABLES)


def test_tracker_part_on_sqlite_and_postgresql(engine_config, rasa_domain):
    config = engine_config
    write_tracker(config, rasa_domain, A)
    write_tracker(config, rasa_domain, B)
    assert privacy.find_citizen(config, conversation_id=A.cid) == {A.cid}   # only the tracker knows A
    exported = privacy.export_citizen(config, conversation_id=A.cid)["stores"]["tracker_events"]
    assert exported and {e["sender_id"] for e in exported} == {A.cid}
    result = privacy.delete_citizen(config, conversation_id=A.cid)
    assert result["counts"]["tracker_events"] == len(exported)
    with readonly_db.open_tracker(config.tracker_url) as engine:
        with engine.connect() as conn:
            senders = [row[0] for row in conn.execute(sa.text("SELECT sender_id FROM events"))]
    assert A.cid not in senders and B.cid in senders


# --- command line ---------------------------------------------------------------------------------

@pytest.fixture
def cli(config, monkeypatch):
    monkeypatch.setenv("BOT_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("BOT_SECRET", "test-secret")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from bot.__main__ import main

    return main


def test_cli_delete_refuses_without_yes(config, cli, capsys):
    populate(config, A)
    with pytest.raises(SystemExit) as refused:
        cli(["privacy", "delete", "--dossier", A.code])
    assert "--yes" in str(refused.value.code) and "vĩnh viễn" in str(refused.value.code)
    assert MessageStore(config.app_db).history(A.cid)
    cli(["privacy", "delete", "--dossier", A.code, "--yes"])
    out = capsys.readouterr().out
    assert "Đã xóa dữ liệu của 1 cuộc trò chuyện" in out and "tin nhắn trong lịch sử trò chuyện: 2" in out
    assert MessageStore(config.app_db).history(A.cid) == []
    entry = AccessLog(config.app_db).entries()[0]
    assert entry["what"] == "privacy_delete" and entry["role"] == "cli" and entry["target"] == A.code
    with pytest.raises(SystemExit):
        cli(["privacy", "delete", "--conversation", "a b", "--yes"])


def test_cli_export_writes_a_private_file(config, cli, tmp_path):
    populate(config, A)
    populate(config, B)
    out = tmp_path / "xuat.json"
    cli(["privacy", "export", "--conversation", A.cid, "--out", str(out)])
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["conversations"] == [A.cid] and B.token not in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exists:   # never overwrites
        cli(["privacy", "export", "--conversation", A.cid, "--out", str(out)])
    assert "đã có" in str(exists.value.code)
    with pytest.raises(SystemExit):
        cli(["privacy", "export", "--dossier", "HS-2026-AAAAAA"])


# --- admin API ------------------------------------------------------------------------------------

@pytest.fixture
def login(config):
    accounts = AccountStore.from_settings(config, hasher=FAST)
    for role, username in USERS.items():
        accounts.add(username, PASSWORD, role, team="phuong-ben-thanh" if role in ("volunteer", "supervisor") else None)
    accounts.close()
    clients = []

    def make(role):
        client = TestClient(create_app(config)).__enter__()
        clients.append(client)
        return Browser(client, role)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_api_is_for_admins_only(config, login):
    populate(config, A)
    for role in ("volunteer", "supervisor", "staff"):
        browser = login(role)
        assert browser.get(f"/admin/api/privacy/export?conversation={A.cid}").status_code == 403
        assert browser.post("/admin/api/privacy/delete", {"conversation": A.cid, "confirm": True}).status_code == 403
        assert browser.get("/admin/api/access-log").status_code == 403
    assert login(None).get(f"/admin/api/privacy/export?conversation={A.cid}").status_code == 401
    admin = login("admin")
    refused = admin.post("/admin/api/privacy/delete", {"conversation": A.cid, "confirm": True}, csrf=False)
    assert refused.status_code == 403
    assert MessageStore(config.app_db).history(A.cid), "deleted without CSRF"


def test_api_export_and_delete(config, login):
    populate(config, A)
    populate(config, B)
    admin = login("admin")
    response = admin.get(f"/admin/api/privacy/export?dossier={A.code}")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["conversations"] == [A.cid] and B.token not in response.text
    for query in ("", "?conversation=a%20b", f"?conversation={A.cid}&dossier={A.code}", "?dossier=xyz", "?x=1"):
        bad = admin.get(f"/admin/api/privacy/export{query}")
        assert bad.status_code == 400 and bad.json()["error"], query
    assert admin.get("/admin/api/privacy/export?conversation=web-nobody").status_code == 404
    for body in ({"conversation": A.cid}, {"conversation": A.cid, "confirm": "yes"}, {}, {"confirm": True},
                 [1], {"conversation": 5, "confirm": True}):
        bad = admin.post("/admin/api/privacy/delete", body)
        assert bad.status_code == 400 and bad.json()["error"], body
    assert MessageStore(config.app_db).history(A.cid)
    assert admin.post("/admin/api/privacy/delete", {"dossier": "HS-2026-AAAAAA", "confirm": True}).status_code == 404
    done = admin.post("/admin/api/privacy/delete", {"conversation": A.cid, "confirm": True})
    assert done.status_code == 200, done.text
    assert done.json()["counts"]["messages"] >= 2 and done.json()["conversations"] == [A.cid]   # + the queue place the desk told
    assert MessageStore(config.app_db).history(A.cid) == [] and MessageStore(config.app_db).history(B.cid)
    log = admin.get("/admin/api/access-log?who=quan.tri").json()["entries"]   # attempts that found nobody too
    assert [(e["what"], e["target"]) for e in log] == [
        ("privacy_delete", A.cid), ("privacy_delete", "HS-2026-AAAAAA"), ("privacy_export", "web-nobody"),
        ("privacy_export", A.code)]
    assert log[0]["route"] == "/admin/api/privacy/delete" and log[0]["role"] == "admin"
    assert admin.get("/admin/api/access-log?who=lan.tnv").json()["entries"] == []
    assert admin.get("/admin/api/access-log?limit=0").status_code == 400


# --- audit log ------------------------------------------------------------------------------------

def test_a_volunteer_opening_a_conversation_is_logged(config, login):
    populate(config, A)
    volunteer = login("volunteer")
    assert volunteer.get(f"/console/api/conversations/{A.cid}").status_code == 200
    assert volunteer.post(f"/console/api/conversations/{A.cid}/claim", {}).status_code == 200
    assert volunteer.get("/console/api/conversations/web-never-here").status_code == 404
    entries = AccessLog(config.app_database).entries()
    assert [(e["who"], e["role"], e["what"], e["target"], e["route"]) for e in entries] == [
        ("lan.tnv", "volunteer", "conversation", A.cid, "/console/api/conversations/{conversation_id}/claim"),
        ("lan.tnv", "volunteer", "conversation", A.cid, "/console/api/conversations/{conversation_id}")]
    raw_log = json.dumps(entries, ensure_ascii=False)
    for secret in (A.name, A.personal_id, A.token):    # ids only, never content
        assert secret not in raw_log


def test_staff_opening_a_dossier_is_logged(config, login):
    populate(config, A)
    client = login(None).client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get(f"/api/staff/dossiers/{A.code.lower()}", headers=auth).status_code == 200
    assert client.get("/api/staff/dossiers/HS-2026-AAAAAA", headers=auth).status_code == 404
    assert client.get(f"/api/staff/dossiers/{A.code}").status_code == 401
    changed = client.post(f"/api/staff/dossiers/{A.code}/state", headers=auth,
                          json={"state": "da_tiep_nhan", "actor": "canbo:12"})
    assert changed.status_code == 200
    entries = AccessLog(config.app_db).entries()
    assert [(e["who"], e["role"], e["what"], e["target"], e["route"]) for e in entries] == [
        ("staff-api", "api", "dossier", A.code, "/api/staff/dossiers/{code}/state"),
        ("staff-api", "api", "dossier", A.code, "/api/staff/dossiers/{code}")]


def test_access_log_is_purged_after_its_own_retention(engine_config):
    config = engine_config
    log = AccessLog(config.app_database)
    old = log.record("lan.tnv", "volunteer", "conversation", A.cid, "/console/api/conversations/{conversation_id}")
    log.record("lan.tnv", "volunteer", "conversation", B.cid, "/console/api/conversations/{conversation_id}")
    log.db.execute("UPDATE access_log SET at = ? WHERE id = ?",
                   ((dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)).isoformat(), old))
    config = replace(config, access_log_retention_days=365, draft_retention_days=30)
    staff.purge(config)
    assert [e["target"] for e in log.entries()] == [B.cid]

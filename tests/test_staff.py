"""Staff operations on dossiers through the HTTP API and the CLI, the PDF link, draft purging; the
operations themselves (list, show, change of state, purge) on both engines (``engine_config``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
import unicodedata
from dataclasses import replace

import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from bot import app as app_module
from bot import settings, staff
from bot.app import create_app
from bot.dossiers import DossierStore, add_working_days, make_pdf_token
from bot.dossiers.store import VN_TZ
from bot.settings import ROOT
from bot.store import MessageStore
from tests.conftest import free_port
from tests.webchat import owner_headers

TOKEN = "staff-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CID = "web-0123456789staff1"
NAME = "Nguyễn Thị Hồng Nhung"
PERSONAL_ID, PHONE = "001190012345", "0912345678"
TK01_ANSWERS = {
    "birth_date": "1990-03-12", "full_name": NAME, "sex": "Nữ", "birth_place": "Hà Nội",
    "personal_id": PERSONAL_ID, "ethnicity": "Kinh", "religion": "Không", "phone": PHONE, "email": None,
    "permanent_address": "Số 5 ngõ 12 Trần Phú, phường Ba Đình, Hà Nội", "temporary_address": None,
    "occupation": "Kế toán", "employer": None, "father_name": "Nguyễn Văn Bình", "father_birth_date": "1960-01-02",
    "mother_name": "Lê Thị Cúc", "mother_birth_date": "1962-05-06", "spouse_name": None,
    "previous_passport": None, "request": "Cấp hộ chiếu lần đầu", "chip": "Có gắn chíp điện tử",
    "other_request": None,
}


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), staff_token=TOKEN,
                   secret_override=None)


@pytest.fixture
def engine_config(config, app_database):
    """``config`` on each engine: its SQLite file, or DATABASE_URL on a fresh PostgreSQL database."""
    return replace(config, database_url=app_database) if "://" in str(app_database) else config


@pytest.fixture
def client(config):
    with TestClient(create_app(config)) as test_client:
        yield test_client


def new_dossier(config, procedure="ho-chieu", conversation=CID, answers=None, form_id="TK01", clock=None):
    store = DossierStore(config.app_database, clock=clock) if clock else DossierStore(config.app_database)
    answers = TK01_ANSWERS if answers is None else answers
    return store.create(procedure, conversation, answers, form_id=form_id, phone=answers.get("phone"))


def set_state(client, code, state, actor="canbo:lan", note=None, headers=AUTH):
    return client.post(f"/api/staff/dossiers/{code}/state", json={"state": state, "actor": actor, "note": note},
                       headers=headers)


def chat_history(client, conversation=CID):
    headers = owner_headers(client.app.state.config, conversation)
    return client.get(f"/api/conversations/{conversation}/messages", headers=headers).json()["messages"]


def vn_today():
    return dt.datetime.now(VN_TZ).date()


# --- state changes through the API ---------------------------------------------------------------

def test_state_change_sets_expected_date_records_history_and_tells_the_citizen(config, client):
    code = new_dossier(config).code
    response = set_state(client, code, "da_nop")
    assert response.status_code == 200
    body = response.json()
    expected = add_working_days(vn_today(), 8)          # ho-chieu: 08 ngày làm việc (trực tiếp)
    assert body["state"] == "da_nop" and body["state_label"] == "Đã nộp"
    assert body["expected_date"] == expected.isoformat()
    assert [(e["from_state"], e["to_state"], e["actor"]) for e in body["history"]] == \
        [(None, "nhap", "citizen"), ("nhap", "da_nop", "canbo:lan")]
    [message] = chat_history(client)
    assert message["direction"] == "out"
    assert message["text"].startswith(f"Hồ sơ {code} (Cấp hộ chiếu phổ thông")
    assert "đã chuyển sang trạng thái: Đã nộp." in message["text"]
    assert "Bước tiếp theo: Hồ sơ đã được gửi" in message["text"]
    assert f"Dự kiến có kết quả: {expected:%d/%m/%Y}." in message["text"]

    response = set_state(client, code, "can_bo_sung", note="Thiếu 1 ảnh 4x6 nền trắng")
    assert response.status_code == 200
    text = chat_history(client)[-1]["text"]
    assert "trạng thái: Cần bổ sung." in text and "Ghi chú: Thiếu 1 ảnh 4x6 nền trắng" in text
    assert "Dự kiến có kết quả" not in text            # the clock is stopped while papers are missing
    for message in chat_history(client):
        for secret in (PERSONAL_ID, PHONE, PHONE[-4:], NAME):
            assert secret not in message["text"]


def test_notification_goes_to_the_channel_the_citizen_last_used(config, client):
    store: MessageStore = client.app.state.store
    store.add("tg-42", "in", "tra cứu hồ sơ", channel="telegram")
    code = new_dossier(config, conversation="tg-42").code
    assert set_state(client, code, "da_nop").status_code == 200
    last = store.history("tg-42")[-1]
    assert (last["direction"], last["channel"], last["status"]) == ("out", "telegram", "ok")
    assert code in last["text"]


@pytest.mark.parametrize("path, state, note, message", [
    ([], "co_ket_qua", None, "Không thể chuyển hồ sơ từ “Nháp” sang “Có kết quả”"),
    (["da_nop"], "can_bo_sung", None, "cần ghi rõ giấy tờ"),
    (["da_nop"], "tu_choi", "   ", "cần ghi rõ lý do"),
])
def test_impossible_change_is_refused_and_nothing_is_recorded(config, client, path, state, note, message):
    code = new_dossier(config).code
    for step in path:
        assert set_state(client, code, step).status_code == 200
    before = client.get(f"/api/staff/dossiers/{code}", headers=AUTH).json()
    messages_before = chat_history(client)
    response = set_state(client, code, state, note=note)
    assert response.status_code == 409
    assert message in response.json()["error"]
    assert client.get(f"/api/staff/dossiers/{code}", headers=AUTH).json() == before
    assert chat_history(client) == messages_before


def test_unknown_code_is_404(client):
    response = set_state(client, "HS-2026-999999", "da_nop")
    assert response.status_code == 404
    assert response.json()["error"] == "Không tìm thấy hồ sơ HS-2026-999999."
    assert client.get("/api/staff/dossiers/hs-2026-999999", headers=AUTH).status_code == 404


@pytest.mark.parametrize("body", [
    ["da_nop"], {"state": "da_nop"}, {"actor": "canbo:lan"}, {"state": "", "actor": "canbo:lan"},
    {"state": "da_nop", "actor": 12}, {"state": "da_nop", "actor": "canbo:lan", "note": 5},
    {"state": "da_nop", "actor": "x" * 101}, {"state": "da_nop", "actor": "canbo:lan", "note": "x" * 1001},
])
def test_malformed_body_is_400(config, client, body):
    code = new_dossier(config).code
    response = client.post(f"/api/staff/dossiers/{code}/state", json=body, headers=AUTH)
    assert response.status_code == 400
    assert "không hợp lệ" in response.json()["error"]
    assert client.get(f"/api/staff/dossiers/{code}", headers=AUTH).json()["state"] == "nhap"


def test_not_json_and_unknown_state_are_400(config, client):
    code = new_dossier(config).code
    raw = client.post(f"/api/staff/dossiers/{code}/state", content=b"{state",
                      headers={**AUTH, "Content-Type": "application/json"})
    assert raw.status_code == 400
    as_text = client.post(f"/api/staff/dossiers/{code}/state", content=b'{"state": "da_nop", "actor": "x"}',
                          headers={**AUTH, "Content-Type": "text/plain"})
    assert as_text.status_code == 415
    unknown = set_state(client, code, "xong")
    assert unknown.status_code == 400
    assert "Trạng thái không tồn tại: “xong”" in unknown.json()["error"]
    assert client.get("/api/staff/dossiers?state=xong", headers=AUTH).status_code == 400
    assert client.get("/api/staff/dossiers?limit=abc", headers=AUTH).status_code == 400


# --- reading ----------------------------------------------------------------------------------------

def test_show_masks_personal_numbers(config, client):
    code = new_dossier(config).code
    response = client.get(f"/api/staff/dossiers/{code.lower()}", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    answers = {a["key"]: a["value"] for a in body["answers"]}
    assert answers["full_name"] == NAME and answers["birth_date"] == "12/03/1990"
    assert answers["personal_id"] == "0011*****345" and answers["phone"] == "0912***678"
    assert "email" not in answers                              # left empty
    assert PERSONAL_ID not in response.text and PHONE not in response.text
    assert body["next_states"] == ["da_huy", "da_nop"]


def test_list_filters_by_state_newest_change_first_without_personal_data(config, client):
    first = new_dossier(config).code
    second = new_dossier(config, conversation="web-0123456789staff2").code
    assert set_state(client, first, "da_nop").status_code == 200
    everything = client.get("/api/staff/dossiers", headers=AUTH).json()["dossiers"]
    assert [d["code"] for d in everything] == [first, second]
    submitted = client.get("/api/staff/dossiers", params={"state": "da_nop"}, headers=AUTH).json()["dossiers"]
    assert [(d["code"], d["state_label"]) for d in submitted] == [(first, "Đã nộp")]
    one = client.get("/api/staff/dossiers", params={"limit": 1}, headers=AUTH).json()["dossiers"]
    assert [d["code"] for d in one] == [first]
    text = json.dumps(everything, ensure_ascii=False)
    assert NAME not in text and PHONE not in text and PERSONAL_ID not in text


def test_operations_on_both_engines(engine_config):
    """list (newest change first, by state, limited), show, change of state with the citizen told,
    and the PDF, through the functions the CLI and the API call."""
    config = engine_config
    first = new_dossier(config).code
    second = new_dossier(config, conversation="web-0123456789staff2").code
    changed = staff.change_state(config, first, "da_nop", actor="canbo:lan", note="Đủ giấy tờ")
    assert changed.state == "da_nop" and changed.expected_date == add_working_days(vn_today(), 8)
    assert [d["code"] for d in staff.list_dossiers(config)] == [first, second]
    assert [(d["code"], d["state_label"]) for d in staff.list_dossiers(config, state="da_nop")] == [(first, "Đã nộp")]
    assert [d["code"] for d in staff.list_dossiers(config, limit=1)] == [first]
    shown = staff.show(config, first)
    assert [(e["from_state"], e["to_state"], e["actor"]) for e in shown["history"]] == \
        [(None, "nhap", "citizen"), ("nhap", "da_nop", "canbo:lan")]
    assert {a["key"]: a["value"] for a in shown["answers"]}["phone"] == "0912***678"
    [told] = MessageStore(config.app_database).history(CID)
    assert told["direction"] == "out" and told["text"].startswith(f"Hồ sơ {first}") and "Đủ giấy tờ" in told["text"]
    with pytest.raises(staff.InvalidTransition):
        staff.change_state(config, second, "co_ket_qua", actor="canbo:lan")
    with pytest.raises(staff.DossierNotFound):
        staff.show(config, "HS-2026-AAAAAA")
    assert staff.dossier_pdf(config, first).startswith(b"%PDF")


def test_the_listing_reads_its_page_in_one_query(engine_config):
    """No query per dossier (issue 13: the staff listing's N+1 queries gone)."""
    import sqlalchemy

    config = engine_config
    codes = [new_dossier(config, conversation=f"web-0123456789list{n:02d}").code for n in range(12)]
    engine = DossierStore(config.app_database).db.engine
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    try:
        listed = staff.list_dossiers(config, limit=10)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)
    assert [d["code"] for d in listed] == codes[::-1][:10]
    assert len(statements) == 1, statements


# --- authentication --------------------------------------------------------------------------------

ENDPOINTS = [("get", "/api/staff/dossiers"), ("get", "/api/staff/dossiers/{code}"),
             ("post", "/api/staff/dossiers/{code}/state")]


@pytest.mark.parametrize("method, path", ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}])
def test_missing_or_wrong_token_is_401(config, client, method, path, headers):
    code = new_dossier(config).code
    response = getattr(client, method)(path.format(code=code), headers=headers,
                                       **({"json": {"state": "da_nop", "actor": "x"}} if method == "post" else {}))
    assert response.status_code == 401
    assert "mã truy cập" in response.json()["error"]
    assert DossierStore(config.app_db).get(code).state == "nhap"


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_right_token_is_accepted(config, client, method, path):
    code = new_dossier(config).code
    response = getattr(client, method)(path.format(code=code), headers=AUTH,
                                       **({"json": {"state": "da_nop", "actor": "x"}} if method == "post" else {}))
    assert response.status_code == 200


def test_staff_api_is_off_without_a_configured_token(config):
    new_dossier(config)
    with TestClient(create_app(replace(config, staff_token=None))) as client:
        response = client.get("/api/staff/dossiers", headers={"Authorization": "Bearer "})
    assert response.status_code == 503
    assert response.json()["error"].startswith("Chưa cấu hình STAFF_API_TOKEN")


# --- the CLI -------------------------------------------------------------------------------------------

def cli(config, *args):
    env = {**os.environ, "BOT_DATA_DIR": str(config.data_dir), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "bot", "dossier", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_cli_changes_state_and_the_citizen_sees_it_in_the_chat(config, client):
    code = new_dossier(config).code
    done = cli(config, "set-state", code, "da_nop", "--actor", "canbo:lan")
    assert done.returncode == 0, done.stderr
    assert f"Đã chuyển hồ sơ {code} sang “Đã nộp”" in done.stdout
    [message] = chat_history(client)
    assert f"Hồ sơ {code}" in message["text"] and "Đã nộp" in message["text"]

    refused = cli(config, "set-state", code, "da_tra_ket_qua", "--actor", "canbo:lan")
    assert refused.returncode == 1
    assert "Không thể chuyển hồ sơ từ “Đã nộp” sang “Đã trả kết quả”" in refused.stderr
    assert len(chat_history(client)) == 1
    assert [e.to_state for e in DossierStore(config.app_db).history(code)] == ["nhap", "da_nop"]

    shown = cli(config, "show", code.lower(), "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["state"] == "da_nop" and info["history"][-1]["actor"] == "canbo:lan"
    assert PERSONAL_ID not in shown.stdout and "0011*****345" in shown.stdout

    listed = cli(config, "list", "--state", "da_nop")
    assert listed.returncode == 0 and code in listed.stdout and "Đã nộp" in listed.stdout


def test_cli_reports_unknown_codes_and_states(config):
    missing = cli(config, "show", "HS-2026-999999")
    assert missing.returncode == 1 and "Không tìm thấy hồ sơ HS-2026-999999" in missing.stderr
    bad_state = cli(config, "list", "--state", "xong")
    assert bad_state.returncode == 1 and "Trạng thái không tồn tại" in bad_state.stderr


# --- the PDF link ------------------------------------------------------------------------------------

def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))


def test_pdf_link_serves_the_filled_form_with_the_checklist(config, client):
    code = new_dossier(config).code
    token = make_pdf_token(code, config.secret(), ttl=config.pdf_link_hours * 3600)
    response = client.get(f"/dossiers/pdf/{token}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{code}.pdf"'
    assert response.headers["cache-control"] == "no-store"
    text = pdf_text(response.content)
    assert NAME in text and PERSONAL_ID in text and code in text
    assert "DANH MỤC GIẤY TỜ CẦN CHUẨN BỊ" in text


def test_expired_link_is_410_and_says_how_to_get_a_new_one(config, client):
    code = new_dossier(config).code
    token = make_pdf_token(code, config.secret(), ttl=60, now=time.time() - 3600)
    response = client.get(f"/dossiers/pdf/{token}")
    assert response.status_code == 410
    assert "Liên kết đã hết hạn" in response.text and f"gửi lại tờ khai {code}" in response.text


def test_tampered_or_foreign_links_are_404(config, client):
    first = new_dossier(config).code
    second = new_dossier(config, conversation="web-other").code
    token = make_pdf_token(first, config.secret(), ttl=3600)
    code, expires, signature = token.split(".")
    forged = [
        f"{second}.{expires}.{signature}",                         # someone else's dossier
        f"{code}.{int(expires) + 86400}.{signature}",              # a longer life
        f"{code}.{expires}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        make_pdf_token(first, "another-secret-of-32-characters!", ttl=3600),
        "not-a-token",
    ]
    for bad in forged:
        response = client.get(f"/dossiers/pdf/{bad}")
        assert response.status_code == 404, bad
        assert "Không tìm thấy" in response.text
        assert NAME not in response.text


def test_a_contact_draft_prints_the_checklist_not_a_form(config, client):
    # The generic draft (form lien-he, never printed as an application form) gets the printed
    # checklist of the procedure's papers, with the citizen's contact (the link is signed).
    answers = {"full_name": "Trần Văn Bảo", "phone": "0987654321", "note": None}
    code = new_dossier(config, procedure="doi-gplx", answers=answers, form_id="lien-he").code
    response = client.get(f"/dossiers/pdf/{make_pdf_token(code, config.secret(), ttl=3600)}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages))
    assert code in text and "Đổi giấy phép lái xe" in text and "Trần Văn Bảo" in text
    assert "GIẤY TỜ CẦN CHUẨN BỊ" in text and "Giấy khám sức khỏe" in text
    shown = client.get(f"/api/staff/dossiers/{code}", headers=AUTH).json()
    assert {a["key"]: a["value"] for a in shown["answers"]} == {"full_name": "Trần Văn Bảo", "phone": "0987***321"}
    assert shown["procedure_name"].startswith("Đổi giấy phép lái xe")


# --- purging old drafts -----------------------------------------------------------------------------

class Clock:
    def __init__(self, when: dt.datetime):
        self.now = when

    def __call__(self) -> dt.datetime:
        return self.now


def old_and_new(config):
    """An old draft, an old submitted dossier, an old form draft and a fresh draft."""
    clock = Clock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=config.draft_retention_days + 1))
    old_draft = new_dossier(config, conversation="web-old-1", clock=clock).code
    old_submitted = new_dossier(config, conversation="web-old-2", clock=clock).code
    DossierStore(config.app_database, clock=clock).transition(old_submitted, "da_nop", actor="citizen")
    DossierStore(config.app_database, clock=clock).save_draft("web-old-3", "khai-tu", {"full_name": "Lê Văn C"})
    fresh = new_dossier(config, conversation="web-new").code
    return old_draft, old_submitted, fresh


def surviving(config, *codes):
    store = DossierStore(config.app_database)
    return [c for c in codes if store.get(c) is not None]


def test_purge_deletes_old_drafts_only(engine_config):
    config = engine_config
    old_draft, old_submitted, fresh = old_and_new(config)
    assert staff.purge(config) == 2                              # the old dossier draft and the form draft
    assert surviving(config, old_draft, old_submitted, fresh) == [old_submitted, fresh]
    assert DossierStore(config.app_database).load_draft("web-old-3") is None
    assert staff.purge(config) == 0


def test_cli_purge(config):
    old_draft, old_submitted, fresh = old_and_new(config)
    done = cli(config, "purge")
    assert done.returncode == 0 and "Đã xóa 2 bản nháp" in done.stdout
    assert surviving(config, old_draft, old_submitted, fresh) == [old_submitted, fresh]


def test_app_purges_at_startup_and_then_periodically(config, monkeypatch):
    old_draft, old_submitted, fresh = old_and_new(config)
    monkeypatch.setattr(app_module, "PURGE_EVERY", 0.05)
    with TestClient(create_app(config)):
        assert surviving(config, old_draft, old_submitted, fresh) == [old_submitted, fresh]
        later_draft, *_ = old_and_new(config)
        deadline = time.monotonic() + 5
        while surviving(config, later_draft) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert surviving(config, later_draft) == []


def test_purge_removes_old_rasa_events_only(tmp_path):
    import sqlite3
    import time

    from bot.staff import purge_tracker_events

    path = tmp_path / "rasa_tracker.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, timestamp FLOAT, data TEXT)")
        now = time.time()
        conn.executemany("INSERT INTO events (sender_id, timestamp, data) VALUES (?, ?, ?)",
                         [("old", now - 31 * 86400, "0912345678"), ("new", now - 86400, "xin chào")])
    assert purge_tracker_events(path, 30, now=now) == 1
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT sender_id FROM events")] == ["new"]
    assert purge_tracker_events(tmp_path / "missing.db", 30) == 0

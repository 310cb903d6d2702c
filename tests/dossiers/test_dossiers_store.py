"""The dossier store, on SQLite and PostgreSQL: codes, transitions and history, access, drafts, purge,
transactions, and the counter under concurrent creations (threads and processes)."""

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.dossiers import states
from bot.dossiers.codes import CODE_RE
from bot.dossiers.states import InvalidTransition
from bot.dossiers.store import DossierNotFound, DossierStore

ANSWERS = {"full_name": "Nguyễn Thị Hồng Nhung", "personal_id": "001190012345", "phone": "0912345678"}


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += dt.timedelta(**kw)


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 2, 12, 3, 0, tzinfo=dt.timezone.utc))


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(app_database, clock):
    return DossierStore(app_database, clock=clock)


def create(store, conversation="conv-1", phone="0912345678"):
    return store.create("ho-chieu", conversation, dict(ANSWERS), form_id="TK01", phone=phone)


def count(store, table):
    return store.db.scalar(f"SELECT COUNT(*) FROM {table}")


def seqs(store):
    """(code, year, seq) of every dossier, in the order they were created (their first event)."""
    rows = store.db.all("SELECT d.code, d.year, d.seq FROM dossiers d JOIN dossier_events e "
                        "ON e.dossier_code = d.code AND e.from_state IS NULL ORDER BY e.id")
    return [(r["code"], r["year"], r["seq"]) for r in rows]


def test_codes_are_random_with_vietnams_year_and_a_hidden_counter(store, clock):
    first, second = create(store).code, create(store).code
    assert CODE_RE.match(first) and CODE_RE.match(second) and first != second
    assert first.startswith("HS-2026-") and "000001" not in first
    clock.now = dt.datetime(2026, 12, 31, 17, 30, tzinfo=dt.timezone.utc)   # 00:30 on 1/1/2027 in Vietnam
    assert create(store).code.startswith("HS-2027-")
    clock.now = dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.timezone.utc)
    assert create(store).code.startswith("HS-2026-")
    assert [(year, seq) for _, year, seq in seqs(store)] == [(2026, 1), (2026, 2), (2027, 1), (2026, 3)]


def test_new_dossier_is_a_draft_with_its_answers(store):
    d = create(store)
    assert d.state == "nhap" and d.state_label == "Nháp"
    assert d.answers == ANSWERS
    assert d.phone_last4 == "5678"
    assert d.form_id == "TK01" and d.procedure_id == "ho-chieu"
    assert [(e.from_state, e.to_state) for e in store.history(d.code)] == [(None, "nhap")]


def test_main_line_of_transitions_is_recorded(store, clock):
    d = create(store)
    path = [("da_nop", None), ("da_tiep_nhan", None), ("dang_xu_ly", None),
            ("can_bo_sung", "Thiếu 1 ảnh 4x6"), ("dang_xu_ly", None), ("co_ket_qua", None),
            ("da_tra_ket_qua", None)]
    for to_state, note in path:
        clock.advance(hours=1)
        d = store.transition(d.code, to_state, actor="officer:7", note=note,
                             expected_date=dt.date(2026, 3, 3) if to_state == "da_nop" else None)
    assert d.state == "da_tra_ket_qua"
    assert d.expected_date == dt.date(2026, 3, 3)          # kept once set
    history = store.history(d.code)
    assert [(e.from_state, e.to_state) for e in history] == \
        [(None, "nhap"), ("nhap", "da_nop"), ("da_nop", "da_tiep_nhan"), ("da_tiep_nhan", "dang_xu_ly"),
         ("dang_xu_ly", "can_bo_sung"), ("can_bo_sung", "dang_xu_ly"), ("dang_xu_ly", "co_ket_qua"),
         ("co_ket_qua", "da_tra_ket_qua")]
    assert history[4].note == "Thiếu 1 ảnh 4x6" and history[4].actor == "officer:7"
    assert history[1].at < history[2].at


@pytest.mark.parametrize("steps, refused", [
    ([], "co_ket_qua"),                                   # nhap → co_ket_qua
    (["da_nop"], "da_tra_ket_qua"),
    (["da_huy"], "da_nop"),                               # final state
    (["da_nop", "da_tiep_nhan", "dang_xu_ly", "co_ket_qua"], "da_huy"),
    ([], "khong_ton_tai"),
])
def test_impossible_transitions_are_refused_and_leave_no_trace(store, steps, refused):
    d = create(store)
    for s in steps:
        d = store.transition(d.code, s, actor="officer")
    before = store.history(d.code)
    with pytest.raises(InvalidTransition) as err:
        store.transition(d.code, refused, actor="officer")
    assert "Không thể chuyển" in str(err.value) or "không tồn tại" in str(err.value)
    assert store.get(d.code).state == d.state
    assert store.history(d.code) == before


@pytest.mark.parametrize("target, path", [("can_bo_sung", ["da_nop"]), ("tu_choi", ["da_nop"])])
def test_notes_are_required_for_missing_papers_and_refusals(store, target, path):
    d = create(store)
    for s in path:
        store.transition(d.code, s, actor="officer")
    with pytest.raises(InvalidTransition, match="cần ghi rõ"):
        store.transition(d.code, target, actor="officer", note="  ")
    d = store.transition(d.code, target, actor="officer", note="Lý do cụ thể")
    assert d.state == target and store.history(d.code)[-1].note == "Lý do cụ thể"


def test_transition_table_is_consistent():
    assert set(states.TRANSITIONS) == set(states.STATES)
    for source, targets in states.TRANSITIONS.items():
        assert targets <= set(states.STATES)
        assert source not in targets
    for s in states.STATES.values():
        assert s.label and s.next_steps
    assert {s for s in states.STATES if states.is_final(s)} == {"da_tra_ket_qua", "tu_choi", "da_huy"}
    with pytest.raises(InvalidTransition, match="Đã hủy"):
        states.check_transition("da_huy", "da_nop")


def test_unknown_code(store):
    assert store.get("HS-2026-999999") is None
    with pytest.raises(DossierNotFound):
        store.transition("HS-2026-999999", "da_nop", actor="x")


def test_access_needs_the_same_conversation_or_the_phone_last4(store):
    d = create(store, conversation="conv-1", phone="0912 345 678")
    assert store.get_for(d.code, conversation_id="conv-1").code == d.code
    assert store.get_for(" " + d.code.lower() + " ", conversation_id="conv-1").code == d.code
    assert store.get_for(d.code, conversation_id="conv-2") is None
    assert store.get_for(d.code) is None
    assert store.get_for(d.code, conversation_id="conv-2", phone_last4="5678").code == d.code
    assert store.get_for(d.code, phone_last4="5679") is None
    assert store.get_for(d.code, phone_last4="") is None
    assert store.get_for(d.code, phone_last4="45678") is None
    assert store.get_for("HS-2026-999999", conversation_id="conv-1") is None
    no_phone = create(store, conversation="conv-3", phone=None)
    assert store.get_for(no_phone.code, phone_last4="5678") is None
    assert [x.code for x in store.list_for_conversation("conv-1")] == [d.code]


def test_drafts_survive_a_restart(app_database, clock):
    path = app_database
    DossierStore(path, clock=clock).save_draft("conv-1", "ho-chieu", {"birth_date": "1990-03-12"},
                                               current_field="full_name")
    draft = DossierStore(path, clock=clock).load_draft("conv-1")       # a new process
    assert draft.answers == {"birth_date": "1990-03-12"}
    assert draft.procedure_id == "ho-chieu" and draft.current_field == "full_name"
    store = DossierStore(path, clock=clock)
    store.save_draft("conv-1", "ho-chieu", {"birth_date": "1990-03-12", "full_name": "A B"}, form_id="TK01")
    assert store.load_draft("conv-1").form_id == "TK01"
    assert store.load_draft("conv-2") is None
    assert store.delete_draft("conv-1") and store.load_draft("conv-1") is None


def test_creating_the_dossier_clears_the_draft(store):
    store.save_draft("conv-1", "ho-chieu", {"x": 1})
    create(store, conversation="conv-1")
    assert store.load_draft("conv-1") is None


def test_answers_can_change_only_while_a_draft(store):
    d = create(store)
    d = store.update_answers(d.code, {**ANSWERS, "full_name": "Lê Văn An"}, phone="0987 654 321")
    assert d.answers["full_name"] == "Lê Văn An" and d.phone_last4 == "4321"
    store.transition(d.code, "da_nop", actor="citizen")
    with pytest.raises(InvalidTransition, match="không sửa được"):
        store.update_answers(d.code, ANSWERS)


def test_purge_removes_old_drafts_only(store, clock):
    old_draft = create(store, conversation="old")
    old_submitted = create(store, conversation="old2")
    store.transition(old_submitted.code, "da_nop", actor="citizen")
    store.save_draft("old3", "ho-chieu", {"a": 1})
    clock.advance(days=31)
    recent = create(store, conversation="new")
    store.save_draft("new2", "ho-chieu", {"a": 1})
    assert store.purge_drafts() == 2
    assert store.get(old_draft.code) is None
    assert store.history(old_draft.code) == []                          # events went with it
    assert store.get(old_submitted.code).state == "da_nop"
    assert store.get(recent.code) is not None
    assert store.load_draft("old3") is None and store.load_draft("new2") is not None
    codes_before = {old_draft.code, old_submitted.code, recent.code}
    again = create(store)
    assert again.code not in codes_before
    assert seqs(store)[-1][2] == 4                                      # the counter is never reused
    clock.advance(days=10)
    assert store.purge_drafts(older_than_days=5) == 3


def test_a_failure_mid_creation_leaves_nothing_half_written(store, monkeypatch):
    store.save_draft("conv-1", "ho-chieu", {"birth_date": "1990-03-12"})

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_insert_event", boom)
    with pytest.raises(RuntimeError):
        create(store, conversation="conv-1")
    assert count(store, "dossiers") == 0
    assert count(store, "dossier_events") == 0
    assert store.load_draft("conv-1") is not None                        # the draft is still there
    monkeypatch.undo()
    create(store)
    assert [seq for _, _, seq in seqs(store)] == [1]                    # the counter did not move


def test_a_failure_mid_transition_keeps_the_old_state(store, monkeypatch):
    d = create(store)
    monkeypatch.setattr(store, "_insert_event", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        store.transition(d.code, "da_nop", actor="citizen", expected_date=dt.date(2026, 3, 3))
    fresh = store.get(d.code)
    assert fresh.state == "nhap" and fresh.expected_date is None
    assert len(store.history(d.code)) == 1


def test_logs_carry_no_personal_data(store, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.dossiers")
    d = create(store)
    store.transition(d.code, "da_nop", actor="citizen")
    store.purge_drafts()
    text = caplog.text
    assert d.code in text
    for secret in ("0912345678", "5678", "001190012345", "Nguyễn"):
        assert secret not in text


def test_a_draft_keeps_the_highest_message_id(store):
    assert store.save_draft("conv-1", "ho-chieu", {"a": 1}).last_message_id is None
    assert store.save_draft("conv-1", "ho-chieu", {"a": 2}, message_id=5).last_message_id == 5
    assert store.save_draft("conv-1", "ho-chieu", {"a": 3}, message_id=3).last_message_id == 5   # an older retry
    assert store.save_draft("conv-1", "ho-chieu", {"a": 4}).last_message_id == 5                 # no id: kept
    assert store.save_draft("conv-1", "ho-chieu", {"a": 5}, message_id=True).last_message_id == 5
    assert store.save_draft("conv-1", "ho-chieu", {"a": 6}, message_id=9).last_message_id == 9
    draft = store.load_draft("conv-1")
    assert draft.answers == {"a": 6} and draft.last_message_id == 9
    assert store.already_applied(draft, 9) and not store.already_applied(draft, 10)


def assert_gap_free(store, expected):
    """Every dossier has a distinct code and, per year, the counters are exactly 1..n."""
    rows = seqs(store)
    assert len(rows) == expected
    assert len({code for code, _, _ in rows}) == expected
    by_year = {}
    for _, year, seq in rows:
        by_year.setdefault(year, []).append(seq)
    for year, numbers in by_year.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), year


def test_threads_creating_at_once_get_distinct_consecutive_counters(app_database):
    store = DossierStore(app_database)
    threads, per_thread = 8, 12
    start, errors = threading.Barrier(threads), []

    def work(n):
        start.wait()
        try:
            for i in range(per_thread):
                store.create("ho-chieu", f"conv-{n}-{i}", {"i": i}, phone="0912345678")
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert_gap_free(store, threads * per_thread)
    assert count(store, "dossier_events") == threads * per_thread


CREATOR = """
import sys, time
from pathlib import Path
from bot.dossiers.store import DossierStore

target, go, ready, tag, n = sys.argv[1:]
store = DossierStore(target)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.002)
for i in range(int(n)):
    store.create("ho-chieu", f"{tag}-{i}", {"i": i})
"""


def test_processes_creating_at_once_get_distinct_consecutive_counters(app_database, tmp_path):
    processes, per_process = 3, 20
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", CREATOR, str(app_database), str(go),
                                  str(tmp_path / f"ready-{n}"), f"p{n}", str(per_process)], cwd=ROOT, env=env)
                for n in range(processes)]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{n}").exists() for n in range(processes)):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children)
            time.sleep(0.01)
        go.touch()
        assert [c.wait(120) for c in children] == [0] * processes
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert_gap_free(DossierStore(app_database), processes * per_process)

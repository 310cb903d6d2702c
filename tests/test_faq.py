"""The knowledge base of questions about using online services (procedures/faq.yml): content and validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot.vntext import fold
from procedures import FaqEntry, FaqError, Source, default_faq, load_faq
from procedures.faq import DEFAULT_PATH, MAX_ANSWER_CHARS, TOPICS
from procedures.loading import file_label

# The topics the issue lists, each with the topic slug that covers it and words (folded) that
# the answers of that topic must contain between them.
ISSUE_TOPICS = {
    "VNeID accounts (levels, registering, a forgotten password)": ("vneid", ["muc do 2", "quen mat khau"]),
    "logging in to the national portal": ("dang_nhap", ["dichvucong.gov.vn", "dang nhap"]),
    "paying fees online": ("thanh_toan", ["thanh toan truc tuyen", "bien lai"]),
    "an online dossier is worth the same as one in person": ("ho_so_truc_tuyen", ["gia tri phap ly", "toan trinh"]),
    "authorising someone else to submit (ủy quyền)": ("uy_quyen", ["van ban uy quyen", "chung thuc", "ket hon"]),
    "receiving results by post": ("buu_chinh", ["buu chinh cong ich"]),
    "looking up a dossier's status and a lost dossier code": ("tra_cuu", ["ma ho so", "giay tiep nhan"]),
    "a rejected or returned dossier": ("bo_sung_tu_choi", ["tu choi", "bo sung"]),
    "which level handles what since July 2025": ("cap_giai_quyet", ["01/7/2025", "cap huyen", "cap xa"]),
    "opening hours of one-stop desks": ("gio_lam_viec", ["thu bay", "thong bao"]),
    "digital signatures": ("chu_ky_so", ["chu ky so cong cong", "vneid"]),
    "complaints": ("phan_anh", ["phan anh", "khieu nai", "duong day nong"]),
}
# Entries other parts of the bot (and the retrieval evaluation) may refer to by id.
EXPECTED_IDS = {
    "vneid-muc-1-muc-2", "vneid-dang-ky-muc-2", "vneid-quen-mat-khau", "vneid-bi-khoa", "dang-nhap-dich-vu-cong",
    "thanh-toan-truc-tuyen", "thanh-toan-phuong-thuc", "thanh-toan-bien-lai", "ho-so-truc-tuyen-gia-tri",
    "toan-trinh-mot-phan", "tai-anh-giay-to", "chung-thuc-dien-tu", "uy-quyen-nop-ho-so", "uy-quyen-chung-thuc",
    "uy-quyen-khong-duoc", "buu-chinh-nhan-ket-qua", "tra-cuu-ho-so", "mat-ma-ho-so", "yeu-cau-bo-sung",
    "ho-so-bi-tu-choi", "ho-so-qua-han", "chinh-quyen-hai-cap", "gio-lam-viec-mot-cua", "chu-ky-so-la-gi",
    "chu-ky-so-cong-cong", "ky-so-tren-vneid", "phan-anh-kien-nghi", "khieu-nai", "duong-day-nong",
}
VIETNAMESE_LETTERS = set("ăâđêôơư")
OFFICIAL_HOSTS = (".gov.vn", "chinhphu.vn", "vbpl.vn", "thuvienphapluat.vn")
HEDGES = ("thường", "tùy", "có thể", "hỏi", "xem ", "kiểm chứng")


@pytest.fixture(scope="module")
def faq() -> tuple[FaqEntry, ...]:
    return load_faq()


def entry(**overrides) -> dict:
    """A valid entry as parsed YAML, with ``overrides`` (a value of ``...`` drops the key)."""
    record = {
        "id": "vneid-quen-mat-khau",
        "topic": "vneid",
        "questions": ["Quên mật khẩu VNeID thì làm sao?", "quen mk vneid", "lấy lại mật khẩu định danh"],
        "answer": "Chọn “Quên mật khẩu” trên ứng dụng VNeID và làm theo hướng dẫn.",
        "source": {"title": "Cổng thông tin định danh điện tử VNeID", "url": "https://vneid.gov.vn"},
        "checked_on": dt.date(2026, 12, 1),
        "unverified": True,
    }
    record.update(overrides)
    return {key: value for key, value in record.items() if value is not ...}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "faq.yml"
    text = document if isinstance(document, str) else yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, document) -> list[str]:
    """The problems reported for ``document``, without the file name."""
    path = write(tmp_path, document)
    with pytest.raises(FaqError) as info:
        load_faq(path)
    prefix = f"{file_label(path)}: "
    assert all(line.startswith(prefix) for line in info.value.problems), info.value.problems
    assert str(info.value) == "\n".join(info.value.problems)
    return [line[len(prefix):] for line in info.value.problems]


# --- the shipped file --------------------------------------------------------------------------

def test_shipped_file_loads_with_at_least_40_entries(faq):
    assert len(faq) >= 40
    assert all(isinstance(e, FaqEntry) for e in faq)
    assert EXPECTED_IDS <= {e.id for e in faq}
    assert file_label(DEFAULT_PATH) == "procedures/faq.yml"


def test_topics_cover_the_issue_and_every_topic_has_entries(faq):
    assert {slug for slug, _ in ISSUE_TOPICS.values()} == set(TOPICS)
    counts = Counter(e.topic for e in faq)
    assert set(counts) == set(TOPICS)
    assert min(counts.values()) >= 3, counts
    for subject, (slug, words) in ISSUE_TOPICS.items():
        text = fold(" ".join(f"{e.answer} {' '.join(e.questions)}" for e in faq if e.topic == slug))
        missing = [w for w in words if w not in text]
        assert not missing, f"{subject}: {missing}"


def test_answers_are_vietnamese_with_diacritics_and_short(faq):
    for e in faq:
        assert VIETNAMESE_LETTERS & set(e.answer.lower()), e.id
        assert fold(e.answer) != e.answer.lower(), e.id
        assert len(e.answer) <= 900 < MAX_ANSWER_CHARS, e.id  # room below the hard limit
        assert e.answer[:1].isupper() and e.answer.endswith((".", ")")), e.id


def test_questions_are_written_as_citizens_write(faq):
    for e in faq:
        assert len(e.questions) >= 3, e.id
        assert any(fold(q) != q.lower() for q in e.questions), f"{e.id}: no question with diacritics"
        assert any(fold(q) == q.lower() for q in e.questions), f"{e.id}: no question without diacritics"
    # Short queries ("quen mk vneid", "giờ làm việc") as well as whole sentences, in every topic.
    short_topics = {e.topic for e in faq if any(len(q.split()) <= 4 for q in e.questions)}
    assert short_topics == set(TOPICS)
    assert sum(len(q.split()) <= 4 for e in faq for q in e.questions) >= 40


def test_sources_are_official_https_pages_and_dates_are_recent(faq):
    for e in faq:
        host = urlsplit(e.source.url).hostname or ""
        assert e.source.url.startswith("https://") and host.endswith(OFFICIAL_HOSTS), e.id
        assert "procedures_reference" not in e.source.title, e.id
        assert dt.date(2026, 1, 1) <= e.checked_on <= dt.date.today(), e.id


def test_unverified_answers_tell_the_citizen_to_check(faq):
    unverified = [e for e in faq if e.unverified]
    assert unverified and len(unverified) < len(faq)
    for e in unverified:
        assert any(h in e.answer.lower() for h in HEDGES), e.id


def test_facts_that_changed_recently_are_current(faq):
    by_id = {e.id: e for e in faq}
    assert "34" in by_id["chinh-quyen-hai-cap"].answer and "không còn" in by_id["chinh-quyen-hai-cap"].answer
    assert "200.000 đồng" in by_id["le-phi-truc-tuyen-re-hon"].answer  # the online discount ended on 01/01/2026
    assert "mức độ 3, mức độ 4" in by_id["toan-trinh-mot-phan"].answer  # named only as the old classification
    for e in faq:
        assert "Sở Tư pháp" not in e.answer and "Sở Giao thông" not in e.answer, e.id


def test_entries_are_immutable_and_typed(faq):
    first = faq[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.answer = "x"
    assert isinstance(first.questions, tuple) and isinstance(first.source, Source)
    assert isinstance(first.checked_on, dt.date) and isinstance(first.unverified, bool)
    assert first.topic_label == TOPICS[first.topic]


def test_default_faq_is_loaded_once():
    assert default_faq() is default_faq()
    assert default_faq() == load_faq()


# --- validation --------------------------------------------------------------------------------

def test_a_valid_file_loads(tmp_path):
    second = entry(id="vneid-bi-khoa", questions=["VNeID bị khóa", "vneid bi khoa roi", "mở khóa tài khoản"])
    loaded = load_faq(write(tmp_path, {"entries": [entry(), second]}))
    assert [e.id for e in loaded] == ["vneid-quen-mat-khau", "vneid-bi-khoa"]
    assert loaded[0] == FaqEntry(
        id="vneid-quen-mat-khau", topic="vneid",
        questions=("Quên mật khẩu VNeID thì làm sao?", "quen mk vneid", "lấy lại mật khẩu định danh"),
        answer="Chọn “Quên mật khẩu” trên ứng dụng VNeID và làm theo hướng dẫn.",
        source=Source("Cổng thông tin định danh điện tử VNeID", "https://vneid.gov.vn"),
        checked_on=dt.date(2026, 12, 1), unverified=True)


def test_unknown_and_missing_keys(tmp_path):
    assert problems(tmp_path, {"entries": [entry(answr="x", answer=...)]}) == [
        "entries[0].answer: missing required key",
        "entries[0].answr: unknown key (expected: id, topic, questions, answer, source, checked_on, unverified)",
    ]
    assert problems(tmp_path, {"entries": [entry(source={"title": "Luật", "link": "https://vbpl.vn"})]}) == [
        "entries[0].source.url: missing required key",
        "entries[0].source.link: unknown key (expected: title, url)",
    ]
    assert problems(tmp_path, {"entries": [entry()], "version": 2}) == ["version: unknown key (expected: entries)"]


def test_the_document_shape(tmp_path):
    assert problems(tmp_path, "- a\n- b\n") == ["(top level): must be a mapping with the key 'entries'"]
    assert problems(tmp_path, "entries: []\n") == ["entries: must be a non-empty list"]
    assert problems(tmp_path, "faq: []\n") == ["faq: unknown key (expected: entries)", "entries: missing required key"]
    assert problems(tmp_path, {"entries": ["vneid"]}) == ["entries[0]: must be a mapping"]


def test_invalid_yaml_and_duplicate_keys(tmp_path):
    [line] = problems(tmp_path, "entries:\n  - id: a\n    id: b\n")
    assert line.startswith("invalid YAML:") and "duplicate key 'id'" in line
    [line] = problems(tmp_path, "entries: [\n")
    assert line.startswith("invalid YAML:")
    path = tmp_path / "latin1.yml"
    path.write_bytes("entries: [Quên]".encode("latin-1"))
    with pytest.raises(FaqError, match="not UTF-8 text"):
        load_faq(path)
    with pytest.raises(FaqError, match="no such file"):
        load_faq(tmp_path / "missing.yml")


def test_id_format_and_uniqueness(tmp_path):
    assert problems(tmp_path, {"entries": [entry(id="VNeID_quen mat khau")]}) == [
        "entries[0].id: must look like 'vneid-muc-2'"]
    other = entry(questions=["Mở khóa VNeID", "vneid bi khoa roi", "tài khoản bị khóa"])
    assert problems(tmp_path, {"entries": [entry(), other]}) == [
        "entries[1].id: duplicate id 'vneid-quen-mat-khau' (also entries[0])"]


def test_topic_must_be_known(tmp_path):
    [line] = problems(tmp_path, {"entries": [entry(topic="mat-khau")]})
    assert line.startswith("entries[0].topic: must be one of: vneid, dang_nhap,") and "(got 'mat-khau')" in line


def test_at_least_three_non_empty_questions(tmp_path):
    assert problems(tmp_path, {"entries": [entry(questions=["Quên mật khẩu VNeID?", "quen mk"])]}) == [
        "entries[0].questions: must list at least 3 questions (got 2)"]
    assert problems(tmp_path, {"entries": [entry(questions=["Quên mật khẩu?", "", "???", 7])]}) == [
        "entries[0].questions[1]: must not be empty",
        "entries[0].questions[3]: must be a string",
        "entries[0].questions[2]: has no words",
    ]
    assert problems(tmp_path, {"entries": [entry(questions="quên mật khẩu")]}) == [
        "entries[0].questions: must be a list"]


def test_questions_must_not_repeat_once_folded(tmp_path):
    within = entry(questions=["Quên mật khẩu VNeID?", "quen mat khau vneid", "lấy lại mật khẩu"])
    assert problems(tmp_path, {"entries": [within]}) == [
        "entries[0].questions[1]: repeats entries[0].questions[0] once folded ('quen mat khau vneid')"]
    across = entry(id="vneid-bi-khoa", questions=["VNeID bị khóa", "QUEN MK VNEID!", "mở khóa tài khoản"])
    assert problems(tmp_path, {"entries": [entry(), across]}) == [
        "entries[1].questions[1]: 'quen mk vneid' is already a question of entry 'vneid-quen-mat-khau' "
        "(entries[0].questions[1])"]


def test_answer_non_empty_and_at_most_1000_characters(tmp_path):
    assert problems(tmp_path, {"entries": [entry(answer="  ")]}) == ["entries[0].answer: must not be empty"]
    assert load_faq(write(tmp_path, {"entries": [entry(answer="Đ" * MAX_ANSWER_CHARS)]}))
    assert problems(tmp_path, {"entries": [entry(answer="Đ" * (MAX_ANSWER_CHARS + 1))]}) == [
        "entries[0].answer: is 1001 characters long; at most 1000"]
    decomposed = "Quên mật khẩu".replace("ê", "e\u0302")
    assert problems(tmp_path, {"entries": [entry(answer=decomposed)]}) == [
        "entries[0].answer: must be NFC-normalised Unicode (retype the diacritics)"]


def test_source_title_and_https_url(tmp_path):
    bad = entry(source={"title": "", "url": "http://vbpl.vn"})
    assert problems(tmp_path, {"entries": [bad]}) == [
        "entries[0].source.title: must not be empty",
        "entries[0].source.url: must be an https URL",
    ]
    for url in (None, "vbpl.vn", "https://", "https://vbpl.vn/a b"):
        assert problems(tmp_path, {"entries": [entry(source={"title": "Luật", "url": url})]}) == [
            "entries[0].source.url: must be an https URL"], url
    assert problems(tmp_path, {"entries": [entry(source="Nghị định 69/2024/NĐ-CP")]}) == [
        "entries[0].source: must be a mapping"]


def test_checked_on_is_a_date_not_after_today(tmp_path):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert problems(tmp_path, {"entries": [entry(checked_on=tomorrow)]}) == [
        f"entries[0].checked_on: {tomorrow.isoformat()} is in the future"]
    assert problems(tmp_path, {"entries": [entry(checked_on="hôm qua")]}) == [
        "entries[0].checked_on: must be a date (YYYY-MM-DD)"]
    assert problems(tmp_path, {"entries": [entry(checked_on=dt.datetime(2026, 12, 1, 9, 30))]}) == [
        "entries[0].checked_on: must be a date (YYYY-MM-DD), not a date and time"]
    assert load_faq(write(tmp_path, {"entries": [entry(checked_on=dt.date.today())]}))


def test_unverified_is_a_boolean(tmp_path):
    assert problems(tmp_path, {"entries": [entry(unverified="chưa chắc")]}) == [
        "entries[0].unverified: must be true or false"]
    assert problems(tmp_path, {"entries": [entry(unverified=1)]}) == ["entries[0].unverified: must be true or false"]


def test_every_problem_is_reported_at_once_and_nothing_is_loaded(tmp_path):
    document = {"entries": [
        entry(id="Bad Id", answer="", unverified="yes please"),
        entry(id="vneid-bi-khoa", topic="khac", questions=["quen mk vneid", "a", "b"],
              source={"title": "Luật", "url": "ftp://vbpl.vn"}, checked_on="2026-13-01"),
        entry(id="vneid-bi-khoa", extra=1, questions=["Mở khóa VNeID", "vneid bi khoa roi", "bị khóa"]),
    ]}
    assert problems(tmp_path, document) == [
        "entries[0].id: must look like 'vneid-muc-2'",
        "entries[0].answer: must not be empty",
        "entries[0].unverified: must be true or false",
        "entries[1].topic: must be one of: " + ", ".join(TOPICS) + " (got 'khac')",
        "entries[1].source.url: must be an https URL",
        "entries[1].checked_on: must be a date (YYYY-MM-DD)",
        "entries[2].extra: unknown key (expected: id, topic, questions, answer, source, checked_on, unverified)",
        "entries[1].questions[0]: 'quen mk vneid' is already a question of entry 'Bad Id' (entries[0].questions[1])",
        "entries[2].id: duplicate id 'vneid-bi-khoa' (also entries[1])",
    ]


def test_problem_lines_name_the_default_file(monkeypatch, tmp_path):
    broken = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    broken["entries"][3]["answer"] = ""
    text = yaml.safe_dump(broken, allow_unicode=True, sort_keys=False)
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: text)
    with pytest.raises(FaqError) as info:
        load_faq()
    assert info.value.problems == ["procedures/faq.yml: entries[3].answer: must not be empty"]

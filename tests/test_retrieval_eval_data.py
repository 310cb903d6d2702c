"""The retrieval evaluation set (tests/data/retrieval_eval.yml) is well-formed.

Checks the data only, not the retrieval: every expected code is a record of the national
catalogue, none is one of the hand-written procedures (evaluated elsewhere), the set is large
and varied enough, and `accept` is used as documented. Needs neither the model nor the stack.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EVAL_FILE = ROOT / "tests" / "data" / "retrieval_eval.yml"
NATIONAL = ROOT / "procedures" / "national" / "catalogue.jsonl.gz"
RAW = ROOT / "procedures" / "national" / "national-2026-07.jsonl.gz"
CODE = re.compile(r"^\d\.\d{6}$")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").casefold()
    return " ".join(re.sub(r"[^\w%]+", " ", text).split())


@lru_cache(maxsize=None)
def questions() -> list[dict]:
    data = yaml.safe_load(EVAL_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and set(data) == {"questions"}
    assert isinstance(data["questions"], list)
    return data["questions"]


@lru_cache(maxsize=None)
def national() -> dict[str, dict]:
    with gzip.open(NATIONAL, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return {record["code"]: record for record in records}


@lru_cache(maxsize=None)
def ministries() -> dict[str, str]:
    with gzip.open(RAW, "rt", encoding="utf-8") as lines:
        return {r["ma_thu_tuc"]: r["ministry_folder"] for r in map(json.loads, lines)}


def hand_written_codes() -> set[str]:
    codes = set()
    for path in (ROOT / "procedures" / "catalogue").glob("*.yml"):
        code = yaml.safe_load(path.read_text(encoding="utf-8")).get("code")
        if code:
            codes.add(str(code))
    return codes


def answered() -> list[dict]:
    return [q for q in questions() if q["code"] is not None]


def test_every_question_has_the_documented_fields():
    for q in questions():
        assert set(q) <= {"text", "code", "accept"} and {"text", "code"} <= set(q), q
        assert isinstance(q["text"], str) and q["text"].strip() == q["text"] and len(q["text"]) >= 5, q
        assert q["code"] is None or (isinstance(q["code"], str) and CODE.match(q["code"])), q
        if "accept" in q:
            assert q["code"] is not None, f"a null question accepts nothing: {q}"
            assert isinstance(q["accept"], list) and q["accept"], q
            assert all(isinstance(c, str) and CODE.match(c) for c in q["accept"]), q


def test_every_code_is_a_record_of_the_national_catalogue():
    records = national()
    assert len(records) > 2600
    missing = sorted({q["code"] for q in answered()} - set(records))
    assert missing == []
    missing_accept = sorted({c for q in answered() for c in q.get("accept", [])} - set(records))
    assert missing_accept == []


def test_no_expected_or_accepted_code_is_a_hand_written_procedure():
    hand = hand_written_codes()
    assert len(hand) >= 13
    used = {q["code"] for q in answered()} | {c for q in answered() for c in q.get("accept", [])}
    assert sorted(used & hand) == []


def test_accept_codes_differ_from_the_expected_code_and_from_each_other():
    for q in answered():
        accept = q.get("accept", [])
        assert q["code"] not in accept, q
        assert len(set(accept)) == len(accept), q


def test_size_and_spread():
    qs = questions()
    codes = {q["code"] for q in answered()}
    assert len(qs) >= 320
    assert len(codes) >= 160
    assert sum(q["code"] is None for q in qs) >= 30
    # all seven ministries of the national database are asked about
    folders = ministries()
    assert {folders[c] for c in codes} == set(folders.values())


def test_no_duplicate_texts():
    counts = Counter(fold(q["text"]) for q in questions())
    assert [text for text, n in counts.items() if n > 1] == []


def test_no_question_is_an_official_name_copied():
    names = {fold(record["name"]) for record in national().values()}
    assert [q["text"] for q in questions() if fold(q["text"]) in names] == []


def test_style_mix_includes_text_without_diacritics():
    plain = [q for q in questions() if q["text"].isascii()]
    assert 0.2 <= len(plain) / len(questions()) <= 0.6

"""The two retrieval tuning sets (tests/data/retrieval_dev.yml, retrieval_dev2.yml) are well-formed
and apart from the held-out set.

Tuning the retrieval looks at these files; it must never look at tests/data/retrieval_eval.yml.
So besides the format, every code must be a record the bot can answer (a national record, or a
hand-written one under its code), and no question may also be in the held-out set.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.test_retrieval_eval_data import CODE, fold, hand_written_codes, national, questions

ROOT = Path(__file__).resolve().parents[1]
DEV_FILES = [ROOT / "tests" / "data" / "retrieval_dev.yml", ROOT / "tests" / "data" / "retrieval_dev2.yml"]


def load(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and set(data) == {"questions"}
    return data["questions"]


@pytest.mark.parametrize("path", DEV_FILES, ids=lambda p: p.stem)
def test_fields_and_codes(path):
    records = national()
    qs = load(path)
    assert len(qs) >= 240
    assert sum(q["code"] is None for q in qs) >= 25
    for q in qs:
        assert set(q) <= {"text", "code", "accept"} and {"text", "code"} <= set(q), q
        assert isinstance(q["text"], str) and len(q["text"].strip()) >= 5, q
        codes = [q["code"], *(q.get("accept") or [])] if q["code"] is not None else []
        assert q["code"] is not None or "accept" not in q, q
        for code in codes:
            assert isinstance(code, str) and CODE.match(code), q
            assert code in records or code in hand_written_codes(), q


@pytest.mark.parametrize("path", DEV_FILES, ids=lambda p: p.stem)
def test_no_question_twice_nor_in_the_held_out_set(path):
    texts = Counter(fold(q["text"]) for q in load(path))
    assert [t for t, n in texts.items() if n > 1] == []
    held_out = {fold(q["text"]) for q in questions()}
    assert sorted(set(texts) & held_out) == []


def test_the_two_tuning_sets_do_not_share_questions():
    first, second = ({fold(q["text"]) for q in load(p)} for p in DEV_FILES)
    assert sorted(first & second) == []

"""Issue 9: the independent evaluation set, procedures named as conditions, and the
two-intent clarifying question. None of these need the trained model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.procedures import ActionClarify
from bot.benchmark import EVAL_FILE, INDEPENDENT_FILE, confusions, intent_report, load_eval, pattern_report
from bot.nlu.components import ProcedureMatcher, condition_spans
from bot.vntext import fold, normalize
from tests.conftest import make_tracker

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = {"lost_document", "out_of_scope", "greeting_request", "how_want_papers", "condition", "volunteer"}


def training_texts() -> set[str]:
    texts = set()
    for path in (ROOT / "nlu_data" / "nlu").rglob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            for line in (block.get("examples") or "").splitlines():
                texts.add(fold(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.strip()[2:])).strip())
    return texts


def test_independent_set_covers_every_intent_procedure_and_pattern():
    examples = load_eval(INDEPENDENT_FILE)
    assert len(examples) >= 300
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {e["intent"] for e in examples}
    assert set(domain["intents"]) - intents <= {"show_procedures"}  # a button only, never typed
    catalogue = {p.stem for p in (ROOT / "procedures" / "catalogue").glob("*.yml")}
    assert {e["procedure"] for e in examples} - {None} == catalogue
    assert {e.get("pattern") for e in examples} - {None} == PATTERNS
    assert sum(e["intent"] == "out_of_scope" for e in examples) >= 30


def test_no_evaluation_question_is_in_the_training_data():
    training = training_texts()
    for path in (EVAL_FILE, INDEPENDENT_FILE):
        leaked = [e["text"] for e in load_eval(path) if fold(e["text"]).strip() in training]
        assert leaked == [], path.name


def test_reports_per_intent_confusions_and_patterns():
    rows = [("ask_fee", "ask_fee", None, None, None, False),
            ("out_of_scope", "ask_fee", None, None, "out_of_scope", False),
            ("out_of_scope", "out_of_scope", None, None, "out_of_scope", True),
            ("ask_procedure", "check_status", "can-cuoc", "can-cuoc", "lost_document", False)]
    report = intent_report(rows)
    assert report["ask_fee"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert confusions(rows) == [("out_of_scope", "ask_fee", 1), ("ask_procedure", "check_status", 1)]
    patterns = pattern_report(rows)
    assert (patterns["out_of_scope"], patterns["out_of_scope_recognised"], patterns["out_of_scope_answered"]) == (2, 1, 0)
    assert (patterns["lost"], patterns["lost_as_status"]) == (1, 1)


@pytest.mark.parametrize("text, goal, condition", [
    ("chưa có hộ khẩu ở đây thì có xin giấy phép xây dựng được không", "giay-phep-xay-dung", "thuong-tru"),
    ("khong co can cuoc thi co dang ky ket hon duoc khong", "ket-hon", "can-cuoc"),
    ("bằng lái hết hạn thì có làm hộ chiếu được không", "ho-chieu", "doi-gplx"),
    ("làm khai sinh mà bố mẹ chưa đăng ký kết hôn thì cần thêm giấy gì", "khai-sinh", "ket-hon"),
])
def test_a_procedure_named_as_a_condition_is_not_the_topic(text, goal, condition):
    matcher = ProcedureMatcher({"fuzzy": True})
    text = normalize(text)
    entities = matcher.procedure_entities(text, [])
    conditions = condition_spans(text, entities)
    assert [e["value"] for e in conditions] == [condition]
    assert [e["value"] for e in entities if e not in conditions] == [goal]


@pytest.mark.parametrize("text", ["làm hộ chiếu thì có cần căn cước không", "hộ chiếu và căn cước cần giấy gì",
                                  "không có hộ chiếu thì sao"])
def test_without_a_condition_every_procedure_stays(text):
    matcher = ProcedureMatcher({"fuzzy": True})
    text = normalize(text)
    assert condition_spans(text, matcher.procedure_entities(text, [])) == []


def procedure_entity(value, text="x"):
    return {"entity": "procedure", "value": value, "text": text, "start": 0, "end": len(text)}


async def clarify(tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await ActionClarify().run(dispatcher, tracker, domain)
    return dispatcher.messages, events


async def test_unsure_between_two_questions_asks_with_both(domain):
    ranking = [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "ask_papers", "confidence": 0.38},
               {"name": "ask_how", "confidence": 0.35}, {"name": "ask_fee", "confidence": 0.1}]
    tracker = make_tracker("nlu_fallback", "hộ chiếu thì nộp sao", [procedure_entity("ho-chieu", "hộ chiếu")],
                           confidence=0.4, ranking=ranking)
    messages, events = await clarify(tracker, domain)
    assert messages[0]["text"] == "Về làm hộ chiếu, bạn muốn biết giấy tờ cần chuẩn bị hay cách nộp hồ sơ?"
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        '/ask_papers{"procedure":"ho-chieu"}', '/ask_how{"procedure":"ho-chieu"}']
    assert {"event": "slot", "name": "procedure", "value": "ho-chieu", "timestamp": None} in events


async def test_unsure_between_how_and_starting_offers_the_draft(domain):
    ranking = [{"name": "start_dossier", "confidence": 0.45}, {"name": "ask_how", "confidence": 0.42}]
    tracker = make_tracker("nlu_fallback", "làm căn cước", [procedure_entity("can-cuoc", "căn cước")],
                           confidence=0.45, ranking=ranking)
    messages, _ = await clarify(tracker, domain)
    assert messages[0]["text"].endswith("bạn muốn tạo hồ sơ nháp ngay hay muốn biết cách nộp hồ sơ?")
    assert [b["title"] for b in messages[0]["buttons"]] == ["Tạo hồ sơ nháp", "Cách làm"]


@pytest.mark.parametrize("ranking", [
    [{"name": "ask_papers", "confidence": 0.6}, {"name": "ask_how", "confidence": 0.2}],   # not close
    [{"name": "ask_papers", "confidence": 0.3}, {"name": "greet", "confidence": 0.28}],    # not two questions
])
async def test_otherwise_clarify_offers_every_topic(domain, ranking):
    tracker = make_tracker("nlu_fallback", "hộ chiếu", [procedure_entity("ho-chieu")], confidence=0.3, ranking=ranking)
    messages, _ = await clarify(tracker, domain)
    assert messages[0]["text"].startswith("Bạn muốn hỏi gì về") and len(messages[0]["buttons"]) == 6


async def test_forged_confidences_do_not_break_clarify(domain):
    ranking = [{"name": "ask_papers", "confidence": "0.3"}, {"name": "ask_how", "confidence": None}, "x"]
    tracker = make_tracker("nlu_fallback", "hộ chiếu", [procedure_entity("ho-chieu")], confidence=0.3, ranking=ranking)
    messages, _ = await clarify(tracker, domain)
    assert messages[0]["buttons"]

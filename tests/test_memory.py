"""The model's memory of its training examples (``bot.nlu.memory``): keys, conflicts, the
component in Rasa's pipeline, and a new memory written into a copy of a packaged model."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.memory import (
    SOURCE,
    LearnedExamples,
    build_memory,
    has_memory,
    memory_key,
    nlu_examples,
    recall,
    update_model,
)
from bot.settings import ROOT
from bot.vntext import normalize


def test_keys_fold_case_digits_punctuation_and_teencode():
    assert memory_key("Làm HỘ CHIẾU mất bao lâu???") == memory_key("làm hộ chiếu  mất bao lâu")
    assert memory_key("số 0912345678 của em") == memory_key("số 0900000000 của em") == "số 0 của em"
    assert memory_key("e mun lm hc") == memory_key("em muốn làm hộ chiếu")
    assert memory_key("  ?! ") == ""


def test_recall_with_and_without_diacritics_and_conflicts_forgotten():
    memory = build_memory([("xin cáo từ", "goodbye"), ("đúng rồi", "affirm"), ("đừng rồi", "deny"),
                           ("lệ phí hộ chiếu", "ask_fee"), ("lệ phí hộ chiếu", "ask_fee")])
    assert recall(memory, "Xin cáo từ!") == "goodbye"
    assert recall(memory, "xin cao tu") == "goodbye"          # typed without diacritics
    assert recall(memory, "xin cào tú") is None               # other diacritics: another text
    assert recall(memory, "đúng rồi") == "affirm" and recall(memory, "đừng rồi") == "deny"
    assert recall(memory, "dung roi") is None                 # both intents without diacritics: DIET decides
    assert recall(memory, "lệ phí hộ chiếu") == "ask_fee"     # the same text twice is no conflict
    assert recall(memory, "lệ phí hộ chiếu là bao nhiêu") is None   # only the example itself
    assert recall(memory, "") is None


def test_normalize_is_idempotent_on_the_training_data_and_the_held_out_sets():
    """Rasa's pipeline gives the memory text already normalised (``TextNormalizer``); a quick update
    builds the memory from the files. The keys agree only if normalising twice changes nothing."""
    import yaml

    texts = [text for text, _ in nlu_examples(ROOT / "nlu_data")]
    for name in ("nlu_eval.yml", "nlu_independent.yml"):
        texts += [e["text"] for e in yaml.safe_load((ROOT / "tests" / "data" / name).read_text())["examples"]]
    assert len(texts) > 1500
    changed = [t for t in texts if normalize(normalize(t)) != normalize(t)]
    assert changed == []


def test_component_overrides_diets_intent_only_for_a_remembered_message():
    component = LearnedExamples(None, None, build_memory([("xin cáo từ", "goodbye")]))
    remembered = Message(data={TEXT: "xin cáo từ", INTENT: {"name": "bot_capabilities", "confidence": 0.58},
                               "intent_ranking": [{"name": "bot_capabilities", "confidence": 0.58},
                                                  {"name": "goodbye", "confidence": 0.3}]})
    other = Message(data={TEXT: "xin cáo từ các bạn", INTENT: {"name": "goodbye", "confidence": 0.7}})
    component.process([remembered, other])
    assert remembered.get(INTENT) == {"name": "goodbye", "confidence": 1.0, "source": SOURCE}
    assert [r["name"] for r in remembered.get("intent_ranking")] == ["goodbye", "bot_capabilities"]
    assert other.get(INTENT) == {"name": "goodbye", "confidence": 0.7}


def _packaged(path: Path, memory: dict | None) -> Path:
    """A stand-in for a packaged Rasa model: metadata.json and the memory component's folder."""
    source = path.parent / f"{path.stem}.src"
    (source / "components" / "train_bot.nlu.memory.LearnedExamples5").mkdir(parents=True)
    (source / "components" / "train_DIETClassifier4").mkdir(parents=True)
    (source / "components" / "train_DIETClassifier4" / "weights.bin").write_bytes(b"\x00weights")
    if memory is not None:
        (source / "components" / "train_bot.nlu.memory.LearnedExamples5" / "memory.json").write_text(json.dumps(memory))
    (source / "metadata.json").write_text(json.dumps({"model_id": "old", "domain": {}}))
    with tarfile.open(path, "w:gz") as archive:
        for item in source.iterdir():
            archive.add(item, arcname=item.name)
    return path


def _members(path: Path) -> dict:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_update_model_writes_a_new_memory_and_keeps_everything_else(tmp_path):
    base = _packaged(tmp_path / "base.tar.gz", {"written": {}, "folded": {}})
    target = tmp_path / "new.tar.gz"
    sizes = update_model(base, [("xin cáo từ", "goodbye")], target)
    assert sizes == {"written": 1, "folded": 1} and has_memory(target)
    old, new = _members(base), _members(target)
    assert old.keys() == new.keys()
    assert new["components/train_DIETClassifier4/weights.bin"] == b"\x00weights"
    memory = json.loads(new["components/train_bot.nlu.memory.LearnedExamples5/memory.json"])
    assert recall(memory, "xin cao tu") == "goodbye"
    assert json.loads(new["metadata.json"])["model_id"] != "old"
    assert not list(tmp_path.glob(".new*"))   # nothing half-written left


def test_a_model_without_memory_cannot_take_a_quick_update(tmp_path):
    base = _packaged(tmp_path / "base.tar.gz", None)
    assert not has_memory(base)
    with pytest.raises(ValueError):
        update_model(base, [("xin cáo từ", "goodbye")], tmp_path / "new.tar.gz")
    assert not (tmp_path / "new.tar.gz").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a model")
    assert not has_memory(tmp_path / "junk.tar.gz")


def test_the_trained_models_memory_is_what_a_quick_update_builds():
    """The memory Rasa's training wrote into ``make model``'s model equals the one a quick update
    builds from the same files (so a quick update changes only what the new examples change)."""
    from bot import training

    if not (training.MODEL.exists() and training.STAMP.exists()
            and training.STAMP.read_text() == training.inputs_hash()):
        pytest.skip("the model is not trained from the current data (make model)")
    members = {k: v for k, v in _members(training.MODEL).items() if k.endswith("/memory.json")}
    assert len(members) == 1
    trained = json.loads(next(iter(members.values())))
    built = build_memory(nlu_examples(ROOT / "nlu_data", training.GENERATED_DIR))
    assert trained == built
    assert len(built["written"]) > 1000

"""Building the Rasa model: spaCy pipeline, diacritic-free training variants, training.

``build_model()`` retrains only when the training inputs changed (their hash is kept
next to the model), so running the bot twice does not train twice.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from bot.settings import ROOT
from bot.vntext import strip_diacritics

SPACY_DIR = ROOT / "build" / "spacy_vi"
GENERATED_DIR = ROOT / "build" / "nlu_generated"
MODEL = ROOT / "models" / "current.tar.gz"
STAMP = ROOT / "models" / "current.inputs"
INPUTS = ["nlu_data", "domain.yml", "config.yml", "bot/nlu/components.py", "bot/nlu/memory.py", "bot/vntext.py", "bot/training.py"]


def inputs_hash() -> str:
    """A hash of every file the model is trained from."""
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def build_spacy(target: Path = SPACY_DIR) -> Path:
    """Save spaCy's blank Vietnamese pipeline (pyvi word segmentation) for Rasa's SpacyNLP."""
    if not (target / "config.cfg").exists():
        import spacy

        spacy.blank("vi").to_disk(target)
    return target


def write_diacritic_free(source: Path = ROOT / "nlu_data" / "nlu", target: Path = GENERATED_DIR) -> Path:
    """Write a diacritic-free copy of every training example ("hộ chiếu" → "ho chieu").

    Stripping diacritics keeps the text length, so entity offsets stay valid.
    """
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(source))
    examples = []
    for example in data.intent_examples:
        text = example.get("text")
        stripped = strip_diacritics(text)
        if stripped == text or len(stripped) != len(text):
            continue
        entities = [{**e, "value": strip_diacritics(str(e["value"]))} for e in example.get("entities") or []]
        examples.append(Message(data={"text": stripped, "intent": example.get("intent"), "entities": entities}))
    target.mkdir(parents=True, exist_ok=True)
    out = target / "diacritic_free.yml"
    RasaYAMLWriter().dump(out, TrainingData(training_examples=examples))
    return out


def train(fixed_name: str = "current", out: Path = ROOT / "models", augment: bool = True,
          config: Path = ROOT / "config.yml") -> Path:
    """Run ``rasa train`` with the project's data (and the generated variants)."""
    build_spacy()
    data = [str(ROOT / "nlu_data")]
    if augment:
        data.append(str(write_diacritic_free()))
    command = [sys.executable, "-m", "rasa", "train", "--data", *data, "--config", str(config),
               "--domain", str(ROOT / "domain.yml"), "--out", str(out), "--fixed-model-name", fixed_name,
               "--force"]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return out / f"{fixed_name}.tar.gz"


def build_model(force: bool = False) -> Path:
    """Train unless the model is already built from the current inputs."""
    current = inputs_hash()
    if not force and MODEL.exists() and STAMP.exists() and STAMP.read_text() == current:
        print(f"Model is up to date: {MODEL.relative_to(ROOT)}")
        return MODEL
    model = train()
    STAMP.write_text(current)
    return model


def folded_features_config(target: Path) -> Path:
    """config.yml with accent-stripped token features (bot.nlu.folding) instead of augmentation."""
    import yaml

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    names = [c["name"] for c in config["pipeline"]]
    config["pipeline"].insert(names.index("SpacyTokenizer") + 1, {"name": "bot.nlu.folding.FoldedLemmas"})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return target


def compare_diacritic_strategies() -> None:
    """Train the three ways of handling text without diacritics and print their accuracy.

    (a) no special handling, (b) accent-stripped features, (c) diacritic-free copies of
    every training example (what config.yml uses). Takes about 15 minutes.
    """
    from bot.benchmark import load_eval, nlu_scores
    from bot.parse import Parser

    out = ROOT / "build" / "ablation"
    variants = {
        "(a) as written only": dict(augment=False),
        "(b) accent-stripped features": dict(augment=False, config=folded_features_config(out / "folded.yml")),
        "(c) + diacritic-free copies": dict(augment=True),
    }
    examples = load_eval()
    rows = []
    for i, (label, options) in enumerate(variants.items()):
        model = train(fixed_name=f"variant{i}", out=out, **options)
        scores = nlu_scores(Parser(model), examples)
        rows.append((label, *[s[k] for s in scores.values() for k in ("intent", "procedure")]))
    print(f"\n{'strategy':32} {'intent':>8} {'proc.':>7} {'intent*':>8} {'proc.*':>7}   (* = without diacritics)")
    for label, i1, p1, i2, p2 in rows:
        print(f"{label:32} {i1:8.1%} {p1:7.1%} {i2:8.1%} {p2:7.1%}")

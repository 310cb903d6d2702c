"""Models staff train, evaluate, activate and roll back (the "Huấn luyện & mô hình" tab).

Everything lives under ``<data dir>/models/``:

- ``<id>.tar.gz``: a trained Rasa model; ``<id>.json``: its metadata — ``data_hash`` (the
  ``bot.training.inputs_hash`` of the data it was trained from), ``created``, ``trained_by``,
  ``strategy`` (``quick``, ``finetune`` or ``full``), ``base_model``, ``train_seconds``, ``metrics`` (held-out
  evaluation), ``activated_by`` / ``activated_at``, and ``cross_validation`` once run;
- ``<id>.eval.json``: the model's answer to every held-out question (for "changed answers");
- ``<id>.data/``: the snapshot of the training inputs it was trained from (cross-validation);
- ``active.json``: ``{"id", "history": [{"id", "by", "at"}]}`` — the model Rasa serves, and
  ``active.tar.gz``, a symlink to it: ``python -m bot run`` starts Rasa with it (``startup_model``),
  so a Rasa restarted by the supervisor serves the active model too;
- ``jobs/<job>.json`` (+ ``.log``): training and cross-validation jobs.

The model built by ``make model`` (``models/current.tar.gz``) is adopted into the registry (copied,
``trained_by: "make model"``) the first time it is seen, so there is always a model to compare
with and to roll back to.

**Training** (``Registry.start_training``) runs ``python -m bot.model_registry job`` under
``nice -n 19`` in its own session: it snapshots the inputs, trains, evaluates and registers the
model, writing its state to the job file that ``GET models/train/{job}`` reads. ``STRATEGIES``:
when the inputs differ from the active model's only by intent examples of known intents
(``only_examples_differ``), the default is ``quick``: the active model with a new memory of the
examples (``bot.nlu.memory.update_model``: every training example is then answered with its own
intent, DIET's weights unchanged; seconds). Otherwise, or asked for ``finetune``, it is to
fine-tune the active model (``rasa train --finetune <active> --epoch-fraction 0.2
--skip-validation``: DIET's weights and the featurizers' vocabularies are reused, 8 of the 36
epochs; measured 2.6× less CPU than a full training), which needs the same ``config.yml`` (Rasa
refuses any change but ``epochs``) and no new intent or entity; otherwise, when Rasa refuses, or
with ``full`` it is a full training. Unchanged inputs (the hash of a registered model) are not
retrained. See README "Retraining" for the measured options.

**Evaluation** (``evaluate``): the held-out questions of ``tests/data/nlu_eval.yml`` and
``tests/data/nlu_independent.yml`` (never trained on), as written and without diacritics: intent
and procedure accuracy, precision / recall / F1 per intent, the most confused pairs. **Cross-
validation** (``start_cross_validation``): ``rasa test nlu --cross-validation --folds 3`` on a
model's data snapshot (without the diacritic-free copies, which would leak test folds into the
training folds), in the background: about 3 full trainings.

**Activation** (``Registry.activate``) is Rasa's ``PUT /model``; ``bot.rasa_server`` loads the new
model in a thread (``install_background_model_load``) so the old one keeps answering until the
swap. ``python -m bot run`` starts Rasa with the active model (``startup_model``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Sequence

from bot.settings import ROOT, ensure_private_dir

EVAL_FILES = (ROOT / "tests" / "data" / "nlu_eval.yml", ROOT / "tests" / "data" / "nlu_independent.yml")
EPOCH_FRACTION = 0.2     # of config.yml's DIET epochs, when fine-tuning (README "Retraining")
CV_FOLDS = 3
# "quick": a new memory of the examples in a copy of the active model (bot.nlu.memory, seconds);
# "finetune": DIET fine-tuned from the active model; "full": trained from scratch. With no strategy
# asked for, the first that applies, in this order.
STRATEGIES = ("quick", "finetune", "full")
CHANGED_LIMIT = 200      # changed answers kept in a comparison
STAGES = {"queued": "Đang chờ", "preparing": "Chuẩn bị dữ liệu", "training": "Huấn luyện",
          "packaging": "Đóng gói mô hình", "evaluating": "Đánh giá trên câu hỏi kiểm tra",
          "cross_validation": "Kiểm định chéo", "done": "Xong", "failed": "Thất bại"}
_EPOCHS = re.compile(r"Epochs:\s+(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")
_CV_RESULT = re.compile(r"test (Accuracy|F1-score|Precision): ([\d.]+) \(")   # rasa's CV summary lines
_processes: dict[str, subprocess.Popen] = {}   # jobs started by this process (reaped on poll)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return default


# --- inputs: hash and snapshot ---------------------------------------------------------------


def input_files(root: Path = ROOT) -> list[tuple[Path, Path]]:
    """Every file ``bot.training.INPUTS`` names, under ``root``, in hashing order, as (file, its path
    relative to a tree). Under the project itself the training data is read from NLU_DATA_DIR (the
    folder the staff page writes learned examples into; ``nlu_data`` unless set)."""
    from bot import settings
    from bot.training import INPUTS

    files = []
    for name in INPUTS:
        path = root / name
        if name == "nlu_data" and root == ROOT:
            path = settings.load().nlu_data_dir
        if path.is_dir():
            files += [(p, Path(name) / p.relative_to(path)) for p in sorted(path.rglob("*"))
                      if p.is_file() and "__pycache__" not in p.parts]
        elif path.exists():
            files.append((path, Path(name)))
    return files


def inputs_hash(root: Path = ROOT) -> str:
    """``bot.training.inputs_hash`` of the inputs under ``root`` (a snapshot hashes like the tree)."""
    digest = hashlib.sha256()
    for file, relative in input_files(root):
        digest.update(str(relative).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def snapshot_inputs(target: Path, root: Path = ROOT) -> str:
    """Copy the training inputs into ``target`` (same relative paths); their hash."""
    for file, relative in input_files(root):
        dest = target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, dest)
    return inputs_hash(target)


def training_labels(nlu_dir: Path) -> tuple[set[str], set[str]]:
    """Intents and entities of the examples under ``nlu_dir``."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
    from rasa.shared.nlu.training_data.loading import load_data

    intents, entities = set(), set()
    for path in sorted(Path(nlu_dir).rglob("*.yml")):
        if RasaYAMLReader.is_yaml_nlu_file(path):
            data = load_data(str(path))
            intents |= set(data.intents)
            entities |= set(data.entities)
    return intents, entities


def only_examples_differ(old: Path, new: Path) -> bool:
    """Whether two input snapshots differ only by intent examples (added, edited, moved, deleted)
    of intents the old one already has: every other file byte for byte the same, and the NLU
    files' synonyms, lookup tables and regexes the same."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
    from rasa.shared.nlu.training_data.loading import load_data

    nlu = Path("nlu_data") / "nlu"

    def files(root: Path) -> dict[Path, bytes]:
        return {relative: file.read_bytes() for file, relative in input_files(root)}

    def extras(root: Path) -> tuple:
        intents, synonyms, lookups, regexes = set(), {}, [], []
        for path in sorted((root / nlu).rglob("*.yml")):
            if RasaYAMLReader.is_yaml_nlu_file(path):
                data = load_data(str(path))
                intents |= set(data.intents)
                synonyms.update(data.entity_synonyms)
                lookups += data.lookup_tables
                regexes += data.regex_features
        key = lambda items: sorted(json.dumps(i, sort_keys=True, ensure_ascii=False) for i in items)  # noqa: E731
        return intents, synonyms, key(lookups), key(regexes)

    before, after = files(old), files(new)
    if {p: b for p, b in before.items() if nlu not in p.parents} != {p: b for p, b in after.items()
                                                                      if nlu not in p.parents}:
        return False
    (old_intents, *old_rest), (new_intents, *new_rest) = extras(old), extras(new)
    return new_intents <= old_intents and old_rest == new_rest


def config_hash(config: Path) -> str:
    return hashlib.sha256(config.read_bytes()).hexdigest()


# --- training --------------------------------------------------------------------------------


def train_command(snapshot: Path, out: Path, name: str, finetune: Path | None = None,
                  epoch_fraction: float = EPOCH_FRACTION, config: Path | None = None,
                  force: bool = False, skip_validation: bool = True) -> list[str]:
    """``rasa train`` on a snapshot (its ``nlu_data`` and the generated diacritic-free copies)."""
    command = [sys.executable, "-m", "rasa", "train", "--data", str(snapshot / "nlu_data"),
               str(snapshot / "generated"), "--config", str(config or snapshot / "config.yml"),
               "--domain", str(snapshot / "domain.yml"), "--out", str(out), "--fixed-model-name", name]
    if force:   # no reuse of Rasa's cache (make model's way)
        command.append("--force")
    if skip_validation:   # the data was validated when it was written (and make validate checks it)
        command.append("--skip-validation")
    if finetune is not None:
        command += ["--finetune", str(finetune), "--epoch-fraction", str(epoch_fraction)]
    return command


def rasa_env(cache: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "LOG_LEVEL": "INFO",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    if cache is not None:   # Rasa's training cache (unchanged components are reused), at most 300 MB
        env["RASA_CACHE_DIRECTORY"] = str(cache)
        env.setdefault("RASA_MAX_CACHE_SIZE", "300")
    return env


def run_logged(command: list[str], log: Path, on_line=None, env: dict | None = None, nice: bool = True) -> int:
    """Run ``command`` (niced) from ROOT, copying its output to ``log``; ``on_line(text)`` sees every
    line or progress-bar update (tqdm writes ``\\r``). Its exit code."""
    if nice and shutil.which("nice"):
        command = ["nice", "-n", "19", *command]
    start = time.monotonic()
    with open(log, "a", encoding="utf-8", buffering=1) as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env or rasa_env(), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        buffer = b""
        while True:
            chunk = process.stdout.read1(4096)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if line.strip():
                    sink.write(f"[{time.monotonic() - start:7.1f}s] {line}\n")   # seconds since start
                    if on_line is not None:
                        on_line(line)
        return process.wait()


def prepare_snapshot(snapshot: Path, extra_examples: str | None = None) -> str:
    """Snapshot the inputs (plus an optional extra NLU file's text) and write the diacritic-free
    copies next to them; the snapshot's hash."""
    from bot.training import build_spacy, write_diacritic_free

    data_hash = snapshot_inputs(snapshot)
    if extra_examples:
        (snapshot / "nlu_data" / "nlu" / "zz_extra.yml").write_text(extra_examples, encoding="utf-8")
        data_hash = inputs_hash(snapshot)
    build_spacy()
    write_diacritic_free(snapshot / "nlu_data" / "nlu", snapshot / "generated")
    return data_hash


# --- evaluation ------------------------------------------------------------------------------


def held_out() -> list[dict]:
    """Every held-out question, as written and without diacritics: ``{"set", "variant", "text",
    "intent", "procedure"}``."""
    import yaml

    from bot.vntext import strip_diacritics

    questions = []
    for path in EVAL_FILES:
        for example in yaml.safe_load(path.read_text(encoding="utf-8"))["examples"]:
            for variant, text in (("written", example["text"]), ("stripped", strip_diacritics(example["text"]))):
                questions.append({"set": path.stem, "variant": variant, "text": text, "intent": example["intent"],
                                  "procedure": example.get("procedure")})
    return questions


def predict(model: Path, questions: list[dict]) -> list[dict]:
    """The model's intent and procedure for each question (loaded in this process)."""
    from bot.parse import Parser

    parser = Parser(model)
    answers = []
    for question in questions:
        result = parser.parse(question["text"])
        answers.append({"intent": result["intent"], "procedure": result["procedure"],
                        "confidence": result["confidence"], "fallback": result["fallback"]})
    return answers


def metrics(questions: list[dict], answers: list[dict]) -> dict:
    """Held-out scores: accuracies (all, per set and variant), per-intent P/R/F1, confused pairs."""
    from bot.benchmark import confusions, intent_report

    rows = [(q["intent"], a["intent"]) for q, a in zip(questions, answers)]

    def accuracy(pairs):
        pairs = list(pairs)
        return round(sum(q["intent"] == a["intent"] for q, a in pairs) / len(pairs), 4) if pairs else None

    groups = {}
    for key in sorted({(q["set"], q["variant"]) for q in questions}):
        groups[f"{key[0]}/{key[1]}"] = accuracy((q, a) for q, a in zip(questions, answers)
                                                  if (q["set"], q["variant"]) == key)
    procedure = sum(q["procedure"] == a["procedure"] for q, a in zip(questions, answers)) / max(1, len(questions))
    return {
        "examples": len(questions),
        "intent_accuracy": accuracy(zip(questions, answers)),
        "procedure_accuracy": round(procedure, 4),
        "by_set": groups,
        "per_intent": {intent: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                       for intent, r in intent_report(rows).items()},
        "confused": [{"expected": e, "got": g, "count": n} for e, g, n in confusions(rows, top=10)],
    }


def evaluation_context() -> str:
    """A fingerprint of what a model's answers depend on besides the model: the catalogue files, the
    synonym table, the services FAQ, the held-out questions and the code of the NLU components and
    the retrieval. Two evaluations compare models only when made in the same context."""
    from procedures import faq, retrieval
    from procedures.loading import catalogue_signature

    code = sorted((ROOT / "procedures").glob("*.py")) + sorted((ROOT / "bot" / "nlu").glob("*.py")) \
        + [ROOT / "bot" / "vntext.py", ROOT / "bot" / "parse.py"]
    stats = []
    for path in (retrieval.SYNONYMS_FILE, faq.DEFAULT_PATH, *EVAL_FILES, *code):
        try:
            stat = path.stat()
            stats.append((str(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            stats.append((str(path), None))
    return hashlib.sha256(repr((catalogue_signature(), stats)).encode()).hexdigest()[:16]


def evaluate(model: Path) -> tuple[dict, list[dict]]:
    """(metrics, per-question answers) of ``model`` on the held-out questions."""
    questions = held_out()
    start = time.perf_counter()
    answers = predict(model, questions)
    scores = metrics(questions, answers)
    scores.update(eval_seconds=round(time.perf_counter() - start, 1), context=evaluation_context())
    return scores, answers


def quick_evaluation(base: Path, model: Path, base_answers: list[dict]) -> tuple[dict, list[dict]]:
    """The evaluation of ``model``, a quick update of ``base`` (same DIET, another memory), from
    ``base``'s answers (made in today's ``evaluation_context``): the whole pipeline is the same
    and deterministic, so an answer can change only where the two memories recall differently;
    those questions (usually none: held-out questions are not training examples) are parsed
    with ``model``, the others keep ``base``'s answers."""
    from bot.nlu.memory import read_memory, recall

    questions = held_out()
    start = time.perf_counter()
    old, new = read_memory(base), read_memory(model)
    redo = [i for i, q in enumerate(questions) if recall(old, q["text"]) != recall(new, q["text"])]
    answers = [dict(a) for a in base_answers]
    if redo:
        for i, answer in zip(redo, predict(model, [questions[i] for i in redo])):
            answers[i] = answer
    scores = metrics(questions, answers)
    scores.update(eval_seconds=round(time.perf_counter() - start, 1), context=evaluation_context(),
                  parsed=len(redo), derived_from=base.name.removesuffix(".tar.gz"))
    return scores, answers


def changed_answers(questions: list[dict], new: list[dict], old: list[dict], limit: int = CHANGED_LIMIT) -> list[dict]:
    """Questions whose intent or procedure differs between two models' answers, fixed ones first."""
    changed = []
    for q, a, b in zip(questions, new, old):
        if (a["intent"], a["procedure"]) == (b["intent"], b["procedure"]):
            continue
        right_new = (a["intent"], a["procedure"]) == (q["intent"], q["procedure"])
        right_old = (b["intent"], b["procedure"]) == (q["intent"], q["procedure"])
        verdict = "better" if right_new and not right_old else "worse" if right_old and not right_new else "other"
        changed.append({"text": q["text"], "set": q["set"], "variant": q["variant"], "expected": q["intent"],
                        "expected_procedure": q["procedure"], "new": a["intent"], "new_procedure": a["procedure"],
                        "old": b["intent"], "old_procedure": b["procedure"], "verdict": verdict})
    order = {"better": 0, "worse": 1, "other": 2}
    changed.sort(key=lambda c: order[c["verdict"]])
    return changed[:limit]


# --- the registry ----------------------------------------------------------------------------


class Unknown(KeyError):
    """No model or job with that id."""


class Registry:
    def __init__(self, data_dir: Path, bundled: Path | None = None, bundled_stamp: Path | None = None):
        from bot import training

        self.root = Path(data_dir) / "models"
        self.jobs = self.root / "jobs"
        self.bundled = bundled if bundled is not None else training.MODEL
        self.bundled_stamp = bundled_stamp if bundled_stamp is not None else training.STAMP
        self._activation = None   # asyncio.Lock, made in the app's loop on first use

    # -- paths ------------------------------------------------------------------------------

    def _ensure(self) -> None:
        ensure_private_dir(self.root.parent)
        ensure_private_dir(self.root)
        ensure_private_dir(self.jobs)

    def model_file(self, model_id: str) -> Path:
        return self.root / f"{_safe(model_id)}.tar.gz"

    def _meta_file(self, model_id: str) -> Path:
        return self.root / f"{_safe(model_id)}.json"

    def _answers_file(self, model_id: str) -> Path:
        return self.root / f"{_safe(model_id)}.eval.json"

    def data_snapshot(self, model_id: str) -> Path:
        return self.root / f"{_safe(model_id)}.data"

    def _job_file(self, job: str) -> Path:
        return self.jobs / f"{_safe(job)}.json"

    # -- models -----------------------------------------------------------------------------

    def get(self, model_id: str) -> dict:
        meta = _read_json(self._meta_file(model_id))
        if meta is None or not self.model_file(model_id).exists():
            raise Unknown(model_id)
        return meta

    def update(self, model_id: str, **fields) -> dict:
        meta = {**self.get(model_id), **fields}
        _write_json(self._meta_file(model_id), meta)
        return meta

    def answers(self, model_id: str) -> list[dict] | None:
        return _read_json(self._answers_file(model_id))

    def save_evaluation(self, model_id: str, scores: dict, answers: list[dict]) -> None:
        _write_json(self._answers_file(model_id), answers)
        self.update(model_id, metrics=scores)

    def state(self) -> dict:
        return _read_json(self.root / "active.json", {"id": None, "history": []})

    def active_id(self) -> str | None:
        model_id = self.state().get("id")
        return model_id if model_id and self.model_file(model_id).exists() else None

    def previous_id(self) -> str | None:
        """The model active before the current one (what "Quay lại" activates)."""
        active = self.active_id()
        for entry in reversed(self.state().get("history", [])):
            if entry["id"] != active and self.model_file(entry["id"]).exists():
                return entry["id"]
        return None

    def models(self) -> list[dict]:
        """Every model, newest first, each with ``active`` and ``previous`` flags."""
        if not self.root.exists():
            return []
        active, previous = self.active_id(), self.previous_id()
        found = []
        for meta_file in self.root.glob("*.json"):
            if meta_file.name == "active.json" or meta_file.name.endswith(".eval.json"):
                continue
            meta = _read_json(meta_file)
            if meta and self.model_file(meta["id"]).exists():
                found.append({**meta, "active": meta["id"] == active, "previous": meta["id"] == previous})
        return sorted(found, key=lambda m: m.get("created", ""), reverse=True)

    def by_hash(self, data_hash: str) -> dict | None:
        return next((m for m in self.models() if m.get("data_hash") == data_hash), None)

    def new_id(self) -> str:
        return dt.datetime.now(dt.timezone.utc).strftime("m%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]

    def register(self, model_file: Path, move: bool = True, **meta) -> dict:
        """Add a trained model (moved or copied in) with its metadata."""
        self._ensure()
        model_id = meta.pop("id", None) or self.new_id()
        target = self.model_file(model_id)
        tmp = target.with_name(f".{target.name}.tmp")
        (shutil.move if move else shutil.copy2)(str(model_file), tmp)
        os.replace(tmp, target)
        record = {"id": model_id, "created": now(), "data_hash": None, "trained_by": None, "strategy": None,
                  "base_model": None, "train_seconds": None, "metrics": None, "activated_by": None,
                  "activated_at": None, "cross_validation": None, **meta}
        _write_json(self._meta_file(model_id), record)
        return record

    def adopt_bundled(self) -> dict | None:
        """Register ``models/current.tar.gz`` (from ``make model``) if its inputs hash is new."""
        if not self.bundled.exists() or not self.bundled_stamp.exists():
            return None
        data_hash = self.bundled_stamp.read_text().strip()
        if self.by_hash(data_hash) is not None:
            return None
        created = dt.datetime.fromtimestamp(self.bundled.stat().st_mtime, dt.timezone.utc).replace(microsecond=0)
        current = data_hash == inputs_hash()   # then it was trained with today's config.yml
        record = self.register(self.bundled, move=False, data_hash=data_hash, trained_by="make model",
                               strategy="full", created=created.isoformat(),
                               config_hash=config_hash(ROOT / "config.yml") if current else None)
        if current:   # its inputs are today's files: keep them (a quick update compares with them)
            snapshot_inputs(self.data_snapshot(record["id"]))
        return record

    def set_active(self, model_id: str, by: str) -> dict:
        self.get(model_id)
        state = self.state()
        at = now()
        history = state.get("history", [])
        if not history and self.bundled_stamp.exists():   # Rasa served make model's model until now
            served = self.by_hash(self.bundled_stamp.read_text().strip())
            if served is not None and served["id"] != model_id:
                history = [{"id": served["id"], "by": "make model", "at": served["created"]}]
        history = [*history, {"id": model_id, "by": by, "at": at}][-50:]
        self._ensure()
        _write_json(self.root / "active.json", {"id": model_id, "history": history})
        link = self.active_link
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(self.model_file(model_id).name, tmp)
        os.replace(tmp, link)   # a restarted Rasa (supervisor) loads the active model too
        return self.update(model_id, activated_by=by, activated_at=at)

    @property
    def active_link(self) -> Path:
        """``active.tar.gz``: a symlink to the active model, what Rasa is started with."""
        return self.root / "active.tar.gz"

    def startup_model(self, fallback: Path) -> Path:
        """The model ``python -m bot run`` starts Rasa with: the active one, unless ``make model``
        built a newer one since (which then becomes active); ``fallback`` without a registry."""
        adopted = self.adopt_bundled()
        active = self.active_id()
        if adopted is not None and (active is None or adopted["created"] > (self.get(active).get("activated_at") or "")):
            self.set_active(adopted["id"], "make model")
            active = adopted["id"]
        if active and not self.active_link.exists():
            self.set_active(active, self.state()["history"][-1]["by"])
        return self.active_link if active else fallback

    async def activate(self, model_id: str, by: str, rasa_urls: str | Sequence[str], token: str | None,
                       transport=None, timeout: float = 600) -> dict:
        """Make every Rasa process serve ``model_id`` (``PUT /model``, one after the other, so the
        others keep serving meanwhile), then record who activated it. When one refuses, the model
        is not recorded as active: activating it (or the previous one) again brings them in line."""
        import asyncio

        import httpx

        path = self.model_file(model_id)
        self.get(model_id)
        params = {"token": token} if token else {}
        if self._activation is None:
            self._activation = asyncio.Lock()
        async with self._activation:   # two staff at once: Rasa and the registry end with the same model
            for rasa_url in [rasa_urls] if isinstance(rasa_urls, str) else rasa_urls:
                async with httpx.AsyncClient(base_url=rasa_url, timeout=timeout, transport=transport) as client:
                    response = await client.put("/model", params=params, json={"model_file": str(path)})
                if response.status_code >= 300:
                    raise ActivationFailed(f"Rasa answered {response.status_code}")
            return self.set_active(model_id, by)

    # -- jobs -------------------------------------------------------------------------------

    def job(self, job: str) -> dict:
        data = _read_json(self._job_file(job))
        if data is None:
            raise Unknown(job)
        if data["state"] == "running" and not _alive(job, data.get("pid")):
            data = {**_read_json(self._job_file(job), data)}   # it may have just finished
            if data["state"] == "running":
                data.update(state="failed", error="Tiến trình huấn luyện đã dừng bất thường.", finished=now())
                _write_json(self._job_file(job), data)
        return data

    def running_job(self) -> dict | None:
        if not self.jobs.exists():
            return None
        for job_file in sorted(self.jobs.glob("*.json")):
            data = self.job(job_file.stem)
            if data["state"] == "running":
                return data
        return None

    def start_training(self, by: str, full: bool = False, extra_examples: str | None = None,
                       strategy: str | None = None) -> dict:
        """``{"job": id}`` of a new (or the already running) training job; ``{"job": None,
        "unchanged": True, "model": id}`` when a registered model has these exact inputs.
        ``strategy``: one of ``STRATEGIES`` or None (the quickest that applies; ``full`` = "full")."""
        if strategy is not None and strategy not in STRATEGIES:
            raise ValueError(strategy)
        self._ensure()
        self.adopt_bundled()
        running = self.running_job()
        if running is not None:
            return {"job": running["job"], "already_running": True}
        if not extra_examples:
            same = self.by_hash(inputs_hash())
            if same is not None:
                return {"job": None, "unchanged": True, "model": same["id"]}
        return self._spawn("train", by, {"full": full, "extra_examples": extra_examples, "strategy": strategy})

    def start_cross_validation(self, model_id: str, by: str) -> dict:
        self.get(model_id)
        if not self.data_snapshot(model_id).exists():
            raise Unknown(model_id)
        running = self.running_job()
        if running is not None:
            return {"job": running["job"], "already_running": True}
        return self._spawn("cross_validation", by, {"model": model_id})

    def _spawn(self, kind: str, by: str, options: dict) -> dict:
        job = uuid.uuid4().hex[:12]
        data = {"job": job, "kind": kind, "state": "running", "by": by, "options": options, "started": now(),
                "finished": None, "progress": {"stage": "queued", "label": STAGES["queued"], "percent": 0},
                "metrics": None, "model": None, "error": None, "pid": None}
        _write_json(self._job_file(job), data)
        command = [sys.executable, "-m", "bot.model_registry", "job", str(self.root.parent), job]
        if shutil.which("nice"):
            command = ["nice", "-n", "19", *command]
        log = open(self.jobs / f"{job}.log", "ab")
        try:
            process = subprocess.Popen(command, cwd=ROOT, env=rasa_env(self.root / "cache"), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        _processes[job] = process
        current = _read_json(self._job_file(job), data)
        if current.get("pid") is None:
            current["pid"] = process.pid
            _write_json(self._job_file(job), current)
        return {"job": job}


class ActivationFailed(RuntimeError):
    pass


def _safe(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", name or "") or name.startswith(".") or name == "active":
        raise Unknown(name)
    return name


def _alive(job: str, pid: int | None) -> bool:
    process = _processes.get(job)
    if process is not None:
        return process.poll() is None
    if not pid:
        return True   # just spawned, pid not written yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie (our own, not yet reaped) is dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


# --- the job process -------------------------------------------------------------------------


class JobRunner:
    """What ``python -m bot.model_registry job DATA_DIR JOB`` does, writing progress as it goes."""

    def __init__(self, data_dir: Path, job: str):
        self.registry = Registry(data_dir)
        self.job_id = job
        self.file = self.registry._job_file(job)
        self.data = _read_json(self.file)
        self.data["pid"] = os.getpid()
        self._last_write = 0.0
        self.save()

    def save(self) -> None:
        _write_json(self.file, self.data)
        self._last_write = time.monotonic()

    def progress(self, stage: str, percent: float, **extra) -> None:
        self.data["progress"] = {"stage": stage, "label": STAGES.get(stage, stage), "percent": round(percent), **extra}
        if time.monotonic() - self._last_write > 0.5 or stage != "training":
            self.save()

    def run(self) -> None:
        try:
            if self.data["kind"] == "cross_validation":
                self.cross_validate(self.data["options"]["model"])
            else:
                self.train(**self.data["options"])
            self.data.update(state="done", finished=now())
            self.progress("done", 100)
        except Exception as error:  # reported on the page; the log has the traceback
            import traceback

            traceback.print_exc()
            self.data.update(state="failed", finished=now(), error=f"{type(error).__name__}: {error}"[:500])
            self.data["progress"] = {**self.data["progress"], "label": STAGES["failed"]}
            self.save()

    def train(self, full: bool = False, extra_examples: str | None = None, strategy: str | None = None) -> None:
        registry = self.registry
        model_id = registry.new_id()
        snapshot = registry.data_snapshot(model_id)
        self.progress("preparing", 1)
        data_hash = prepare_snapshot(snapshot, extra_examples)
        same = registry.by_hash(data_hash)
        if same is not None:
            shutil.rmtree(snapshot, ignore_errors=True)
            self.data.update(model=same["id"], unchanged=True, metrics=same.get("metrics"))
            return
        active = registry.active_id()
        strategy = "full" if full else strategy
        out = registry.root / "building"
        out.mkdir(exist_ok=True)
        if strategy in (None, "quick") and self._quick_base(active, snapshot):
            self.progress("training", 5, strategy="quick")
            start = time.perf_counter()
            from bot.nlu.memory import nlu_examples, update_model

            update_model(registry.model_file(active), nlu_examples(snapshot / "nlu_data", snapshot / "generated"),
                         out / f"{model_id}.tar.gz")
            self._finish(model_id, out, snapshot, data_hash, active, "quick", active,
                         round(time.perf_counter() - start, 1))
            return
        base = self._finetune_base(active, snapshot) if strategy != "full" else None
        # Rasa refuses to fine-tune when anything but "epochs" differs from the model's config
        command = train_command(snapshot, out, model_id, finetune=registry.model_file(base) if base else None)
        self.progress("training", 5, strategy="finetune" if base else "full")
        start = time.perf_counter()
        code = run_logged(command, registry.jobs / f"{self.job_id}.rasa.log", self._rasa_line,
                          env=rasa_env(registry.root / "cache"), nice=False)  # this process is niced already
        if code != 0 and base is not None:   # e.g. Rasa refused to fine-tune: train from scratch
            base = None
            self.progress("training", 5, strategy="full")
            code = run_logged(train_command(snapshot, out, model_id), registry.jobs / f"{self.job_id}.rasa.log",
                              self._rasa_line, env=rasa_env(registry.root / "cache"), nice=False)
        if code != 0:
            raise RuntimeError(f"rasa train exited with {code}")
        seconds = round(time.perf_counter() - start, 1)
        self._finish(model_id, out, snapshot, data_hash, active, "finetune" if base else "full", base, seconds)

    def _finish(self, model_id: str, out: Path, snapshot: Path, data_hash: str, active: str | None,
                strategy: str, base: str | None, seconds: float) -> None:
        """Register the model built in ``out``, evaluate it and compare it with the active one."""
        registry = self.registry
        self.progress("packaging", 80)
        registry.register(out / f"{model_id}.tar.gz", id=model_id, data_hash=data_hash,
                          trained_by=self.data["by"], strategy=strategy, base_model=base,
                          train_seconds=seconds, config_hash=config_hash(snapshot / "config.yml"))
        self.data["model"] = model_id
        self.progress("evaluating", 82)
        if strategy == "quick":   # the active model's answers, and the new one's where its memory differs
            self.data["compared_with"] = active
            self.data["active_metrics"], old = self._evaluation_of(active)
            self.progress("evaluating", 92)
            scores, answers = quick_evaluation(registry.model_file(active), registry.model_file(model_id), old)
        else:
            scores, answers = evaluate(registry.model_file(model_id))
        registry.save_evaluation(model_id, scores, answers)
        self.data["metrics"] = scores
        if active is not None:
            if strategy != "quick":
                self.progress("evaluating", 92)
                self.data["compared_with"] = active
                self.data["active_metrics"], old = self._evaluation_of(active)
            self.data["changed"] = changed_answers(held_out(), answers, old)
        registry.update(model_id, compared_with=active, changed=self.data.get("changed"))
        self.data["train_seconds"] = seconds
        self.data["strategy"] = strategy

    def _quick_base(self, active: str | None, snapshot: Path) -> bool:
        """Whether the active model can take this snapshot by a new memory alone: it has one, and the
        snapshot differs from the active model's inputs only by intent examples of known intents."""
        from bot.nlu.memory import has_memory

        if active is None or not has_memory(self.registry.model_file(active)):
            return False
        base = self.registry.data_snapshot(active)
        return base.exists() and only_examples_differ(base, snapshot)

    def _evaluation_of(self, model_id: str) -> tuple[dict, list[dict]]:
        """A model's held-out evaluation: the one kept, if made with today's catalogue and questions."""
        meta, answers = self.registry.get(model_id), self.registry.answers(model_id)
        if meta.get("metrics") and answers and len(answers) == len(held_out()) \
                and meta["metrics"].get("context") == evaluation_context():
            return meta["metrics"], answers
        scores, answers = evaluate(self.registry.model_file(model_id))
        self.registry.save_evaluation(model_id, scores, answers)
        return scores, answers

    def _finetune_base(self, active: str | None, snapshot: Path) -> str | None:
        """The active model, if it can be fine-tuned on this snapshot: same config, known labels."""
        if active is None:
            return None
        meta = self.registry.get(active)
        base_data = self.registry.data_snapshot(active)
        known = meta.get("config_hash")   # unknown for make model's model once the data changed: try
        if known is not None and known != config_hash(snapshot / "config.yml"):   # (a refusal falls back)
            return None
        if base_data.exists():
            old_intents, old_entities = training_labels(base_data / "nlu_data")
        else:
            old_intents, old_entities = _model_labels(self.registry.model_file(active))
        new_intents, new_entities = training_labels(snapshot / "nlu_data")
        return active if new_intents <= old_intents and new_entities <= old_entities else None

    def _rasa_line(self, line: str) -> None:
        match = _EPOCHS.search(line)
        if match:
            done, total = int(match.group(2)), int(match.group(3))
            self.progress("training", 5 + 75 * done / max(1, total), epoch=done, epochs=total,
                          strategy=self.data["progress"].get("strategy"))

    def cross_validate(self, model_id: str) -> None:
        registry = self.registry
        snapshot = registry.data_snapshot(model_id)
        out = registry.jobs / f"{self.job_id}.cv"
        command = [sys.executable, "-m", "rasa", "test", "nlu", "--nlu", str(snapshot / "nlu_data"),
                   "--config", str(snapshot / "config.yml"), "--cross-validation", "--folds", str(CV_FOLDS),
                   "--out", str(out), "--no-plot", "--no-errors"]
        self.progress("cross_validation", 2, fold=1, folds=CV_FOLDS)
        seen = {"fold": 0, "epoch": None, "logged": {}}

        def on_line(line: str) -> None:
            logged = _CV_RESULT.search(line)
            if logged:
                seen["logged"][logged.group(1).lower()] = float(logged.group(2))
            match = _EPOCHS.search(line)
            if not match:
                return
            done, total = int(match.group(2)), int(match.group(3))
            if seen["epoch"] is None or done < seen["epoch"]:   # a new fold's DIET started
                seen["fold"] = min(CV_FOLDS, seen["fold"] + 1)
            seen["epoch"] = done
            share = (seen["fold"] - 1 + done / max(1, total)) / CV_FOLDS
            self.progress("cross_validation", 2 + 95 * share, fold=seen["fold"], folds=CV_FOLDS)

        start = time.perf_counter()
        code = run_logged(command, registry.jobs / f"{self.job_id}.rasa.log", on_line,
                          env=rasa_env(registry.root / "cache"), nice=False)
        if code != 0:
            raise RuntimeError(f"rasa test nlu exited with {code}")
        report = _read_json(out / "intent_report.json", {})
        accuracy = report.get("accuracy", seen["logged"].get("accuracy"))
        result = {"folds": CV_FOLDS, "seconds": round(time.perf_counter() - start), "finished": now(),
                  "intent_accuracy": round(accuracy, 4) if accuracy is not None else None,
                  "test_f1": seen["logged"].get("f1-score"),
                  "per_intent": {k: {"precision": round(v["precision"], 4), "recall": round(v["recall"], 4),
                                     "f1": round(v["f1-score"], 4), "support": v["support"]}
                                 for k, v in report.items() if isinstance(v, dict) and "precision" in v
                                 and k not in ("micro avg", "macro avg", "weighted avg")}}
        registry.update(model_id, cross_validation=result)
        self.data.update(model=model_id, metrics={"cross_validation": result})


def _model_labels(model: Path) -> tuple[set[str], set[str]]:
    """Intents and entities a packaged model knows (from its domain)."""
    import tarfile

    import yaml

    with tarfile.open(model) as archive:
        member = next((m for m in archive.getmembers() if m.name in ("metadata.json", "./metadata.json")), None)
        if member is None:
            return set(), set()
        metadata = json.loads(archive.extractfile(member).read())
    domain = metadata.get("domain") or {}
    if isinstance(domain, str):
        domain = yaml.safe_load(domain)
    intents = {next(iter(i)) if isinstance(i, dict) else i for i in domain.get("intents", [])}
    entities = {next(iter(e)) if isinstance(e, dict) else e for e in domain.get("entities", [])}
    return intents, entities


# --- Rasa: load a new model without stopping the old one --------------------------------------


RELEASE_AFTER_SWAP_SECONDS = 5.0   # after a swap, when the old agent is no longer referenced


def install_background_model_load() -> None:
    """Make Rasa's ``PUT /model`` load the new model in a worker thread.

    Stock Rasa 3.6 loads it inside the event loop (``agent.load_model`` is synchronous): no
    request is answered for the whole load (several seconds), longer than the bot app waits under
    load. Here the loop keeps serving with the old agent, and the handler swaps ``app.ctx.agent``
    in one assignment once the new one is ready. Called by ``bot.rasa_server.apply``."""
    import asyncio

    import rasa.core.agent
    import rasa.server

    if getattr(rasa.server._load_agent, "_bot_background", False):
        return
    original = rasa.server._load_agent

    async def load_in_thread(model_path=None, model_server=None, remote_storage=None, endpoints=None):
        if model_server is not None or remote_storage is not None or not model_path:
            return await original(model_path, model_server, remote_storage, endpoints)

        def load():
            return asyncio.run(original(model_path=model_path, endpoints=endpoints))

        loop = asyncio.get_running_loop()
        agent = await loop.run_in_executor(None, load)
        # once the handler has swapped the agents, the old model's memory goes back to the system
        from bot.rasa_server import release_free_memory

        loop.call_later(RELEASE_AFTER_SWAP_SECONDS, release_free_memory)
        return agent

    load_in_thread._bot_background = True
    rasa.server._load_agent = load_in_thread


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    if argv[:1] == ["job"] and len(argv) == 3:
        os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
        JobRunner(Path(argv[1]), argv[2]).run()
    else:
        sys.exit("usage: python -m bot.model_registry job DATA_DIR JOB")


if __name__ == "__main__":
    main(sys.argv[1:])

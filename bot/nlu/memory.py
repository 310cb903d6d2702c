"""The model's memory of its training examples: what staff taught it is answered at once.

``LearnedExamples`` sits in the pipeline right after DIET. It remembers the intent of every
training example by a *key* (``memory_key``: the normalised text with digits → 0 and
punctuation and spacing folded; a second key without diacritics for messages typed without
them) and, when a citizen's message has the key of an example, gives that example's intent with
confidence 1.0 instead of DIET's guess. A key under two intents ("đúng" / "đừng" have the same
letters without diacritics) is forgotten: DIET decides those.

Why: DIET generalises from the examples, but re-training it takes minutes on two cores (README
"Retraining"), while a staff member who has just told the bot what a message means expects that
message to be understood now. The memory is the one part of the model that can change without
touching DIET's weights: ``update_model`` writes a new memory into a copy of a trained model
(seconds; ``bot.model_registry``'s "quick" strategy), and the next fine-tuning or full training
lets DIET generalise from the same examples. The memory never answers for a message that is not
word for word (up to case, diacritics, digits and punctuation) a training example, so it cannot
make the model worse on anything else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.vntext import normalize, strip_diacritics

MEMORY_FILE = "memory.json"
SOURCE = "LearnedExamples"      # ``intent.source`` of an intent the memory gave
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"[0-9]+")


def memory_key(text: str) -> str:
    """The key of ``text``: normalised (``bot.vntext.normalize``), digits → 0, only its words."""
    return " ".join(_WORD.findall(_DIGITS.sub("0", normalize(text or ""))))


def build_memory(examples: Iterable[Tuple[str, str]]) -> Dict[str, Dict[str, str]]:
    """``{"written": {key: intent}, "folded": {key: intent}}`` of (text, intent) pairs; a key seen
    under two intents is left out of its table."""
    tables: Dict[str, Dict[str, Optional[str]]] = {"written": {}, "folded": {}}
    for text, intent in examples:
        if not intent:
            continue
        key = memory_key(text)
        if not key:
            continue
        for table, k in (("written", key), ("folded", strip_diacritics(key))):
            known = tables[table].get(k, intent)
            tables[table][k] = intent if known == intent else None
    return {name: {k: v for k, v in table.items() if v is not None} for name, table in tables.items()}


def recall(memory: Dict[str, Dict[str, str]], text: str) -> Optional[str]:
    """The intent the memory gives ``text``, or None. A message with diacritics is looked up as
    written; one without any is looked up among the examples' diacritic-free keys."""
    key = memory_key(text)
    if not key:
        return None
    if strip_diacritics(key) != key:
        return memory.get("written", {}).get(key)
    return memory.get("folded", {}).get(key)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LearnedExamples(GraphComponent):
    """Gives a training example's own intent to a message that is that example (module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, model_storage: ModelStorage, resource: Resource,
                 memory: Optional[Dict[str, Dict[str, str]]] = None) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self.memory = memory or {"written": {}, "folded": {}}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LearnedExamples":
        return cls(model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LearnedExamples":
        try:
            with model_storage.read_from(resource) as directory:
                memory = json.loads((Path(directory) / MEMORY_FILE).read_text(encoding="utf-8"))
        except (ValueError, OSError):   # a model trained without it: nothing remembered
            memory = None
        return cls(model_storage, resource, memory)

    def train(self, training_data: TrainingData) -> Resource:
        self.memory = build_memory((m.get(TEXT), m.get(INTENT)) for m in training_data.intent_examples)
        with self._model_storage.write_to(self._resource) as directory:
            write_memory(Path(directory), self.memory)
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = recall(self.memory, message.get(TEXT) or "")
            if intent is None:
                continue
            ranking = [r for r in message.get("intent_ranking") or [] if r.get(INTENT_NAME_KEY) != intent]
            chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, {**chosen, "source": SOURCE}, add_to_output=True)
            message.set("intent_ranking", [chosen, *ranking], add_to_output=True)
        return messages


def write_memory(directory: Path, memory: Dict[str, Dict[str, str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MEMORY_FILE).write_text(json.dumps(memory, ensure_ascii=False, sort_keys=True), encoding="utf-8")


def nlu_examples(*directories: Path) -> List[Tuple[str, str]]:
    """(text, intent) of every intent example in the NLU files under ``directories`` (read with
    Rasa's own reader, entity annotations removed), as ``rasa train --data`` would see them."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for directory in directories:
        for path in sorted(Path(directory).rglob("*.yml")):
            if RasaYAMLReader.is_yaml_nlu_file(path):
                examples += [(m.get(TEXT), m.get(INTENT)) for m in load_data(str(path)).intent_examples]
    return examples


def memory_resource(archive: tarfile.TarFile) -> Optional[str]:
    """The archive path of the memory file in a packaged model, or None if it has none."""
    for member in archive.getmembers():
        if member.name.endswith(f"/{MEMORY_FILE}") and "LearnedExamples" in member.name:
            return member.name
    return None


def read_memory(model: Path) -> Dict[str, Dict[str, str]]:
    """The memory packaged in ``model`` (``ValueError`` if it has none)."""
    with tarfile.open(model) as archive:
        resource = memory_resource(archive)
        if resource is None:
            raise ValueError(f"{Path(model).name} has no LearnedExamples memory")
        return json.loads(archive.extractfile(resource).read().decode("utf-8"))


def has_memory(model: Path) -> bool:
    """Whether ``model`` is a packaged model with a ``LearnedExamples`` memory."""
    try:
        with tarfile.open(model) as archive:
            return memory_resource(archive) is not None
    except (tarfile.TarError, OSError):
        return False


def update_model(base: Path, examples: Iterable[Tuple[str, str]], target: Path) -> Dict[str, int]:
    """Write ``base`` with a new memory built from ``examples`` to ``target`` (a new model id, DIET
    and everything else as they are); the sizes of the new memory. Raises ``ValueError`` when
    ``base`` has no memory component (then it must be trained)."""
    memory = build_memory(examples)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        unpacked = Path(tmp) / "model"
        with tarfile.open(base) as archive:
            resource = memory_resource(archive)
            if resource is None:
                raise ValueError(f"{base.name} has no LearnedExamples memory")
            archive.extractall(unpacked, filter="data")
        write_memory((unpacked / resource).parent, memory)
        metadata_file = unpacked / "metadata.json"
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        metadata["model_id"] = uuid.uuid4().hex   # another model for Rasa (and its fingerprints)
        metadata_file.write_text(json.dumps(metadata), encoding="utf-8")
        packed = Path(tmp) / "model.tar.gz"
        with tarfile.open(packed, "w:gz", compresslevel=1) as archive:
            for item in sorted(unpacked.iterdir()):
                archive.add(item, arcname=item.name)
        shutil.move(str(packed), target.with_name(f".{target.name}.tmp"))
        os.replace(target.with_name(f".{target.name}.tmp"), target)
    return {name: len(table) for name, table in memory.items()}

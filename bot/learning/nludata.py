"""The training examples in ``nlu_data/`` (see ``bot.learning``): read, add, edit, move, delete;
duplicates and conflicts; a citizen's words as a Rasa example with the ``procedure`` entity."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.learning.placeholders import group_key
from bot.settings import ROOT
from bot.textinput import normalise_input
from bot.vntext import fold, nfc

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_NLU_DIR", "MIN_EXAMPLES", "OUT_OF_SCOPE", "NluData", "Example", "BadExample", "annotate"]

DEFAULT_NLU_DIR = ROOT / "nlu_data"
MIN_EXAMPLES = 20             # the intents page warns under this many examples
OUT_OF_SCOPE = "out_of_scope"
# Hand-written files that are not a topic: patterns.yml holds phrasings by pattern across intents.
NOT_TOPICS = frozenset({"patterns"})
BAD_NAME = "Tên ý định, từ đồng nghĩa hoặc bảng tra cứu chỉ gồm chữ, số, khoảng trắng, “_”, “-”, “.”."


# --- training data -----------------------------------------------------------------------------

class BadExample(ValueError):
    """An example the training data cannot take (the message is Vietnamese, for the staff page)."""


@dataclass(frozen=True)
class Example:
    id: str
    kind: str          # intent, synonym, lookup, regex
    name: str          # the intent (or synonym / lookup table) it belongs to
    text: str          # as written, with entity annotations
    file: str          # relative to the nlu directory
    line: int          # 0-based line in that file

    @property
    def plain(self) -> str:
        """The text without entity annotations ("[hộ chiếu](procedure)" → "hộ chiếu")."""
        return _plain(self.text)

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "intent": self.name, "text": self.text, "file": self.file,
                "learned": self.file.startswith("nlu/learned/")}


def _plain(text: str) -> str:
    return re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})", r"\1", text)


_BLOCK = re.compile(r"^- (intent|synonym|lookup|regex):\s*(\S(?:.*\S)?)\s*$")
_NAME = re.compile(r"^[^\W][\w .-]{0,63}$")
_WRITE_LOCK = threading.Lock()    # one writer of training data per process
_ITEM = re.compile(r"^    - (.*?)\s*$")
_ENTITY = re.compile(r"\[([^\]\n]+)\]\(([^)\n]+)\)")


def _example_id(file: str, kind: str, name: str, text: str) -> str:
    return hashlib.sha256(f"{file}\n{kind}\n{name}\n{text}".encode("utf-8")).hexdigest()[:16]


def _read_reader():
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    return RasaYAMLReader()


class NluData:
    """The training examples under ``directory`` (``nlu_data/``): read, add, edit, move, delete."""

    def __init__(self, directory: Path | str = DEFAULT_NLU_DIR, entities: tuple[str, ...] = ("procedure",)):
        self.directory = Path(directory)
        self.entities = entities
        self._lock = _WRITE_LOCK

    # reading

    def files(self) -> list[Path]:
        return sorted(p for p in (self.directory / "nlu").rglob("*.yml") if p.is_file())

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.directory).as_posix()

    def examples(self) -> list[Example]:
        found = []
        for path in self.files():
            found += self._parse(path)
        return found

    def _parse(self, path: Path) -> list[Example]:
        relative, kind, name, inside = self._relative(path), None, None, False
        found = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if block := _BLOCK.match(line):
                kind, name, inside = block.group(1), block.group(2), False
            elif kind and line.strip() == "examples: |" and line.startswith("  ") and not line.startswith("   "):
                inside = True
            elif inside and (item := _ITEM.match(line)):
                found.append(Example(_example_id(relative, kind, name, item.group(1)), kind, name, item.group(1),
                                     relative, number))
            elif line.strip() and not line.startswith("    "):
                inside = inside and line.startswith("#")
        return found

    def get(self, example_id: str) -> Example | None:
        return next((e for e in self.examples() if e.id == example_id), None)

    def intents(self, domain_intents: list[str] | None = None) -> list[dict]:
        """Every intent with its example count, a warning under ``MIN_EXAMPLES``, its duplicates
        and conflicts (the same normalised text under another intent)."""
        examples = [e for e in self.examples() if e.kind == "intent"]
        counts = Counter(e.name for e in examples)
        issues = self.issues(examples)
        names = list(dict.fromkeys([*(domain_intents or []), *counts]))
        return [{"name": name, "count": counts.get(name, 0), "warning": counts.get(name, 0) < MIN_EXAMPLES,
                 "topic": self.topic(name, examples),
                 "duplicates": sum(1 for i in issues if i["kind"] == "duplicate" and name in i["intents"]),
                 "conflicts": [i for i in issues if i["kind"] == "conflict" and name in i["intents"]]}
                for name in names]

    def issues(self, examples: list[Example] | None = None) -> list[dict]:
        """Duplicates (one normalised text twice under an intent) and conflicts (under two intents)."""
        examples = [e for e in (examples or self.examples()) if e.kind == "intent"]
        by_key: dict[str, list[Example]] = {}
        for example in examples:
            by_key.setdefault(group_key(example.plain), []).append(example)
        found = []
        for key, group in by_key.items():
            intents = sorted({e.name for e in group})
            if len(intents) > 1:
                found.append({"kind": "conflict", "text": group[0].plain, "intents": intents,
                              "examples": [e.public() for e in group]})
            elif len(group) > 1:
                found.append({"kind": "duplicate", "text": group[0].plain, "intents": intents,
                              "examples": [e.public() for e in group]})
        return found

    def topic(self, intent: str, examples: list[Example] | None = None) -> str:
        """The hand-written file (its stem) that holds most examples of ``intent`` (``NOT_TOPICS`` only
        when nothing else has it); "other" if none."""
        counts = Counter(Path(e.file).stem for e in (examples or self.examples())
                         if e.kind == "intent" and e.name == intent and not e.file.startswith("nlu/learned/"))
        topics = [stem for stem, _ in counts.most_common() if stem not in NOT_TOPICS] or list(counts)
        return topics[0] if topics else "other"

    # writing

    def add(self, kind: str, name: str, text: str) -> Example:
        """Append ``text`` to ``name`` in ``nlu/learned/<topic>.yml`` (created if needed)."""
        text = self._clean(text)
        if not _NAME.match(name or ""):
            raise BadExample(BAD_NAME)
        with self._lock:
            existing = self.examples()
            same = next((e for e in existing if e.kind == kind and e.name == name
                         and group_key(e.plain) == group_key(_plain(text))), None)
            if same is not None:   # already there (maybe without diacritics): no duplicate
                return same
            topic = self.topic(name, existing) if kind == "intent" else kind
            path = self.directory / "nlu" / "learned" / f"{_slug(topic)}.yml"
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else _learned_header(topic)
            lines = _insert(lines, kind, name, text)
            self._write(path, lines, kind, name, text)
        return next(e for e in self._parse(path) if e.kind == kind and e.name == name and e.text == text)

    def edit(self, example_id: str, text: str | None = None, intent: str | None = None) -> Example:
        """Change an example's text (in place, comments kept) or move it to another intent."""
        example = self.get(example_id)
        if example is None:
            raise LookupError(example_id)
        if intent and intent != example.name:
            moved = self.add(example.kind, intent, text if text is not None else example.text)
            self.delete(example_id)
            return moved
        if text is None:
            return example
        text = self._clean(text)
        with self._lock:
            path = self.directory / example.file
            lines = path.read_text(encoding="utf-8").splitlines()
            lines[example.line] = "    - " + text
            self._write(path, lines, example.kind, example.name, text)
        return next(e for e in self._parse(path) if e.line == example.line)

    def delete(self, example_id: str) -> Example:
        example = self.get(example_id)
        if example is None:
            raise LookupError(example_id)
        with self._lock:
            path = self.directory / example.file
            lines = path.read_text(encoding="utf-8").splitlines()
            del lines[example.line]
            self._write(path, _drop_empty_blocks(lines), None, None, None)
        return example

    def _clean(self, text: str) -> str:
        text = nfc(normalise_input(text))
        if not text or len(text) > 500:
            raise BadExample("Câu ví dụ phải có từ 1 đến 500 ký tự.")
        for match in _ENTITY.finditer(text):
            if match.group(2) not in self.entities:
                raise BadExample(f"Thực thể “{match.group(2)}” không có trong domain.yml.")
        return text

    def _write(self, path: Path, lines: list[str], kind: str | None, name: str | None, text: str | None) -> None:
        """Check the new content with Rasa's reader, then replace the file atomically."""
        content = "\n".join(lines).rstrip("\n") + "\n"
        try:
            data = _read_reader().reads(content)
        except Exception as error:  # noqa: BLE001 — Rasa raises several kinds for bad YAML
            log.warning("training data not written: %s", type(error).__name__)
            raise BadExample("Dữ liệu huấn luyện sau khi sửa không hợp lệ, chưa lưu.") from None
        if kind == "intent" and not any(m.get("intent") == name for m in data.intent_examples):
            raise BadExample("Câu ví dụ không đọc được, chưa lưu.")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".yml")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(temporary, path)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", fold(text)).strip("-") or "other"


def _learned_header(topic: str) -> list[str]:
    return ['version: "3.1"', "",
            f"# Examples staff added or learned from real chats ({topic}), written by bot/learning.py:",
            "# personal data is replaced by placeholders. Edit them on the staff page (/admin).", "", "nlu:"]


def _insert(lines: list[str], kind: str, name: str, text: str) -> list[str]:
    """``lines`` with ``text`` appended to the block of ``kind: name`` (a new block at the end if none)."""
    start = next((i for i, line in enumerate(lines) if (m := _BLOCK.match(line))
                  and m.group(1) == kind and m.group(2) == name), None)
    if start is None:
        return [*lines, f"- {kind}: {name}", "  examples: |", "    - " + text]
    end = start + 1
    while end < len(lines) and not _BLOCK.match(lines[end]) and (lines[end].startswith("  ") or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return [*lines[:end], "    - " + text, *lines[end:]]


def _drop_empty_blocks(lines: list[str]) -> list[str]:
    """Remove ``- intent: x`` / ``examples: |`` blocks left without any example."""
    out, i = [], 0
    while i < len(lines):
        if _BLOCK.match(lines[i]) and i + 1 < len(lines) and lines[i + 1].strip() == "examples: |" \
                and not (i + 2 < len(lines) and _ITEM.match(lines[i + 2])):
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return out


def annotate(text: str, procedure_id: str | None, catalogue) -> str:
    """The example text in Rasa's form: ``[words](procedure)`` around the words naming the
    procedure when the text names it by one of its aliases, else the text as is. Brackets the
    citizen typed are dropped (they would read as annotations)."""
    text = nfc(text.replace("[", "").replace("]", ""))
    if not procedure_id or catalogue is None:
        return text
    from bot.nlu.matching import ProcedureIndex

    phrases = {alias: pid for alias, pid in catalogue.alias_phrases().items() if pid == procedure_id}
    if not phrases or len(fold(text)) != len(text):
        return text
    matches = ProcedureIndex(phrases).find(text)
    if not matches:
        return text
    match = max(matches, key=lambda m: m.end - m.start)
    start, end = _core_alias(fold(text), match.start, match.end, phrases)
    return f"{text[:start]}[{text[start:end]}](procedure){text[end:]}"


def _core_alias(folded: str, start: int, end: int, phrases) -> tuple[int, int]:
    """The shortest alias inside the matched one: "làm [hộ chiếu] cho con", as the hand-written
    examples mark only the words naming the procedure."""
    for alias in sorted({fold(p) for p in phrases}, key=len):
        found = re.search(r"(?<!\w)" + re.escape(alias) + r"(?!\w)", folded[start:end])
        if found:
            return start + found.start(), start + found.end()
    return start, end

"""The knowledge base of questions about using online public services (procedures/faq.yml).

Besides procedures, citizens ask how the services work: VNeID accounts, logging in to the
national portal, paying online, authorising someone, receiving results by post, looking up a
dossier, and so on. Staff keep the answers in one YAML file::

    entries:
      - id: vneid-muc-1-muc-2           # lower-case slug, unique
        topic: vneid                    # a key of TOPICS
        questions:                      # at least 3 variants, as citizens write them
          - Tài khoản định danh điện tử mức 2 là gì?
          - vneid muc 2 khac muc 1 the nao
          - tk vneid muc 1 dung dc ko
        answer: >-                      # plain Vietnamese, at most MAX_ANSWER_CHARS characters
          ...
        source:                         # where the answer comes from
          title: Nghị định 69/2024/NĐ-CP quy định về định danh và xác thực điện tử
          url: https://...              # https
        checked_on: 2026-12-02          # when someone last checked it (not in the future)
        unverified: false               # true when a fact could not be checked

``load_faq()`` validates the whole file and reports every problem at once in a ``FaqError``
whose lines read ``<file>: entries[3].answer: <problem>``; nothing is loaded if any is found.
Questions are compared folded (``procedures.search.fold_phrase``: no case, no diacritics, no
punctuation), so a question may not be repeated within or across entries in another spelling.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from procedures import schema
from procedures.loading import PACKAGE_DIR, _StrictLoader, file_label
from procedures.model import Source
from procedures.search import fold_phrase

T = TypeVar("T")

DEFAULT_PATH = PACKAGE_DIR / "faq.yml"
MAX_ANSWER_CHARS = 1000
MIN_QUESTIONS = 3

# Topic slug → label shown to citizens.
TOPICS = {
    "vneid": "Tài khoản định danh điện tử VNeID",
    "dang_nhap": "Đăng nhập Cổng Dịch vụ công",
    "thanh_toan": "Thanh toán phí, lệ phí trực tuyến",
    "ho_so_truc_tuyen": "Nộp hồ sơ trực tuyến và giá trị của kết quả điện tử",
    "uy_quyen": "Ủy quyền cho người khác làm thủ tục",
    "buu_chinh": "Gửi hồ sơ, nhận kết quả qua bưu điện",
    "tra_cuu": "Tra cứu tình trạng hồ sơ",
    "bo_sung_tu_choi": "Hồ sơ bị yêu cầu bổ sung hoặc bị từ chối",
    "cap_giai_quyet": "Cấp nào giải quyết từ ngày 01/7/2025",
    "gio_lam_viec": "Giờ làm việc của Bộ phận Một cửa",
    "chu_ky_so": "Chữ ký số",
    "phan_anh": "Phản ánh, kiến nghị, khiếu nại",
}

ENTRY_KEYS = ("id", "topic", "questions", "answer", "source", "checked_on", "unverified")
SOURCE_KEYS = ("title", "url")


@dataclass(frozen=True)
class FaqEntry:
    """One question of the knowledge base, its variants and its answer."""

    id: str
    topic: str  # a key of TOPICS
    questions: tuple[str, ...]
    answer: str
    source: Source
    checked_on: dt.date
    unverified: bool

    @property
    def topic_label(self) -> str:
        """The topic as citizens read it."""
        return TOPICS[self.topic]


class FaqError(Exception):
    """The knowledge base is invalid. ``problems`` lists one "<file>: <field>: <problem>" per line."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def load_faq(path: str | Path | None = None) -> tuple[FaqEntry, ...]:
    """Load and validate the knowledge base (default: procedures/faq.yml), all entries or none."""
    path = Path(path) if path is not None else DEFAULT_PATH
    label = file_label(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except FileNotFoundError:
        raise FaqError(f"{label}: no such file") from None
    except UnicodeDecodeError:
        raise FaqError(f"{label}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise FaqError(f"{label}: invalid YAML: {' '.join(str(error).split())}") from None
    checker = _Checker(label)
    entries = checker.document(raw)
    if checker.problems:
        raise FaqError(checker.problems)
    return entries


@lru_cache(maxsize=1)
def default_faq() -> tuple[FaqEntry, ...]:
    """The knowledge base in procedures/faq.yml, loaded once per process."""
    return load_faq()


def _slug(value: Any, path: str) -> str:
    return schema.pattern(value, path, schema.ID_RE, "vneid-muc-2")


def _topic(value: Any, path: str) -> str:
    return schema.choice(value, path, tuple(TOPICS))


def _answer(value: Any, path: str) -> str:
    text = schema.text(value, path)
    if len(text) > MAX_ANSWER_CHARS:
        raise schema.FieldError(path, f"is {len(text)} characters long; at most {MAX_ANSWER_CHARS}")
    return text


def _https_url(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.startswith("https://") or not schema.URL_RE.match(value):
        raise schema.FieldError(path, "must be an https URL")
    return value


def _checked_on(value: Any, path: str) -> dt.date:
    date = schema.date(value, path)
    if date > dt.date.today():
        raise schema.FieldError(path, f"{date.isoformat()} is in the future")
    return date


# Checks of the scalar fields of an entry: check(value, path) -> value, raising schema.FieldError.
_SCALAR_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "id": _slug,
    "topic": _topic,
    "answer": _answer,
    "checked_on": _checked_on,
    "unverified": schema.boolean,
}


class _Checker:
    """Validates a parsed file, collecting every problem instead of stopping at the first."""

    def __init__(self, label: str):
        self.label = label
        self.problems: list[str] = []

    def report(self, field: str, message: str) -> None:
        self.problems.append(f"{self.label}: {field}: {message}")

    def check(self, check: Callable[[Any, str], T], value: Any, path: str) -> T | None:
        """``check(value, path)``, or None after reporting its ``FieldError``."""
        try:
            return check(value, path)
        except schema.FieldError as error:
            self.report(error.field, error.message)
            return None

    def keys(self, value: Any, path: str, expected: tuple[str, ...]) -> bool:
        """Whether ``value`` is a mapping; reports its missing and unknown keys."""
        if not isinstance(value, dict):
            self.report(path, "must be a mapping")
            return False
        for key in expected:
            if key not in value:
                self.report(f"{path}.{key}", "missing required key")
        for key in value:
            if key not in expected:
                self.report(f"{path}.{key}", f"unknown key (expected: {', '.join(expected)})")
        return True

    def document(self, raw: Any) -> tuple[FaqEntry, ...]:
        if not isinstance(raw, dict):
            self.report("(top level)", "must be a mapping with the key 'entries'")
            return ()
        for key in raw:
            if key != "entries":
                self.report(str(key), "unknown key (expected: entries)")
        if "entries" not in raw:
            self.report("entries", "missing required key")
            return ()
        items = raw["entries"]
        if not isinstance(items, list) or not items:
            self.report("entries", "must be a non-empty list")
            return ()
        entries = [self.entry(item, f"entries[{i}]") for i, item in enumerate(items)]
        self.repeats_across_entries(items)
        return tuple(e for e in entries if e is not None)

    def entry(self, value: Any, path: str) -> FaqEntry | None:
        if not self.keys(value, path, ENTRY_KEYS):
            return None
        fields = {}
        for key in ENTRY_KEYS:
            if key not in value:
                continue
            at = f"{path}.{key}"
            if key == "questions":
                fields[key] = self.questions(value[key], at)
            elif key == "source":
                fields[key] = self.source(value[key], at)
            else:
                fields[key] = self.check(_SCALAR_CHECKS[key], value[key], at)
        if len(fields) < len(ENTRY_KEYS) or None in fields.values():
            return None
        return FaqEntry(**fields)

    def questions(self, value: Any, path: str) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.report(path, "must be a list")
            return None
        if len(value) < MIN_QUESTIONS:
            self.report(path, f"must list at least {MIN_QUESTIONS} questions (got {len(value)})")
        texts = [self.check(schema.text, q, f"{path}[{i}]") for i, q in enumerate(value)]
        seen: dict[str, int] = {}
        for i, question in enumerate(texts):
            if question is None:
                continue
            folded = fold_phrase(question)
            if not folded:
                self.report(f"{path}[{i}]", "has no words")
            elif folded in seen:
                self.report(f"{path}[{i}]", f"repeats {path}[{seen[folded]}] once folded ({folded!r})")
            else:
                seen[folded] = i
        if len(value) < MIN_QUESTIONS or None in texts:
            return None
        return tuple(texts)

    def source(self, value: Any, path: str) -> Source | None:
        if not self.keys(value, path, SOURCE_KEYS):
            return None
        title = self.check(schema.text, value["title"], f"{path}.title") if "title" in value else None
        url = self.check(_https_url, value["url"], f"{path}.url") if "url" in value else None
        return Source(title=title, url=url) if title is not None and url is not None else None

    def repeats_across_entries(self, items: list) -> None:
        """Ids, and questions once folded, that two entries share."""
        ids: dict[str, int] = {}
        owners: dict[str, tuple[int, str]] = {}  # folded question -> (entry index, field path)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            entry_id = item.get("id")
            if isinstance(entry_id, str):
                if entry_id in ids:
                    self.report(f"entries[{i}].id", f"duplicate id {entry_id!r} (also entries[{ids[entry_id]}])")
                else:
                    ids[entry_id] = i
            questions = item.get("questions")
            if not isinstance(questions, list):
                continue
            for j, question in enumerate(questions):
                folded = fold_phrase(question) if isinstance(question, str) else ""
                if not folded:
                    continue
                owner = owners.setdefault(folded, (i, f"entries[{i}].questions[{j}]"))
                if owner[0] != i:  # repeats within one entry are reported by questions()
                    owner_id = items[owner[0]].get("id")
                    self.report(f"entries[{i}].questions[{j}]",
                                f"{folded!r} is already a question of entry {owner_id!r} ({owner[1]})")

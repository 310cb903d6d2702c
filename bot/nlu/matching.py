"""Find catalogue procedures named in a citizen's message.

The matcher is fed from the hand-written catalogue records (names, short names and aliases,
folded to lower case without diacritics), so adding a procedure file with aliases makes it
recognisable with no new training examples. The records imported from the national
database are found by the retrieval (``procedures.retrieval``), which takes these matches
as evidence.

Matching is done on folded text: longest alias first, on word boundaries. Words the
model tagged as a procedure but that match no alias exactly are resolved fuzzily
(typos such as "ho chiue"): windows of at least 8 letters, same first letter, similarity ≥ 0.84.

``default_index()`` follows the live catalogue (``procedures.loading.default_catalogue``): when a
staff member saves a record with new aliases, the next message is matched against them, in the
Rasa process too, with no retraining (the index is rebuilt in a few milliseconds).
"""

from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass
from typing import Mapping

from bot.vntext import fold, normalize

FUZZY_CUTOFF = 0.84
_MIN_FUZZY_LEN = 8  # shorter windows match everyday words ("ban la" ~ "bang lai")


@dataclass(frozen=True)
class Match:
    procedure_id: str
    start: int
    end: int
    text: str
    score: float = 1.0


class ProcedureIndex:
    """An alias → procedure-id index with exact and fuzzy lookup."""

    def __init__(self, phrases: Mapping[str, str]):
        # Expand abbreviations in aliases the same way as in messages ("hc" → "hộ chiếu").
        self.phrases: dict[str, str] = {}
        for phrase, pid in phrases.items():
            for variant in {fold(phrase), fold(normalize(phrase))}:
                if variant:
                    self.phrases.setdefault(variant, pid)
        alternatives = sorted(self.phrases, key=len, reverse=True)
        self._regex = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, alternatives)) + r")(?!\w)")
        self._by_words: dict[int, list[str]] = {}
        for phrase in self.phrases:
            if len(phrase) >= _MIN_FUZZY_LEN:
                self._by_words.setdefault(len(phrase.split()), []).append(phrase)

    def find(self, text: str) -> list[Match]:
        """Exact alias matches in ``text`` (positions refer to ``fold(text)``)."""
        folded = fold(text)
        return [
            Match(self.phrases[m.group(1)], m.start(1), m.end(1), m.group(1))
            for m in self._regex.finditer(folded)
        ]

    def resolve_exact(self, phrase: str) -> str | None:
        """The procedure id for a phrase the model tagged, when one of its aliases matches exactly."""
        folded = fold(phrase)
        if folded in self.phrases:
            return self.phrases[folded]
        exact = self.find(folded)
        return max(exact, key=lambda m: len(m.text)).procedure_id if exact else None

    def resolve(self, phrase: str) -> str | None:
        """The procedure id for a phrase the model tagged, exactly or fuzzily."""
        folded = fold(phrase)
        if folded in self.phrases:
            return self.phrases[folded]
        exact = self.find(folded)
        if exact:
            return max(exact, key=lambda m: len(m.text)).procedure_id
        return self._fuzzy(folded)

    def find_fuzzy(self, text: str) -> list[Match]:
        """Windows of 1–4 words in ``text`` that look like an alias with a typo."""
        folded = fold(text)
        words = list(re.finditer(r"\w+", folded))
        found: list[Match] = []
        for size in (4, 3, 2, 1):
            for i in range(len(words) - size + 1):
                start, end = words[i].start(), words[i + size - 1].end()
                if any(m.start < end and start < m.end for m in found):
                    continue
                window = folded[start:end]
                if len(window) < _MIN_FUZZY_LEN:
                    continue
                pid = self._fuzzy(window, size)
                if pid:
                    found.append(Match(pid, start, end, window, FUZZY_CUTOFF))
        return found

    def _fuzzy(self, folded: str, words: int | None = None) -> str | None:
        pool = [p for p in self._by_words.get(words or len(folded.split()), []) if p[0] == folded[:1]]
        best = difflib.get_close_matches(folded, pool, n=1, cutoff=FUZZY_CUTOFF)
        return self.phrases[best[0]] if best else None


class LiveIndex:
    """The index of the default catalogue as it is now: rebuilt when the catalogue reloaded.
    Every ``ProcedureIndex`` method and attribute is available on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source = None  # the catalogue snapshot the index was built from
        self._index: ProcedureIndex | None = None

    def current(self) -> ProcedureIndex:
        from procedures import default_catalogue

        catalogue = default_catalogue().current()
        with self._lock:
            if catalogue is not self._source:
                self._index = ProcedureIndex(catalogue.alias_phrases(hand_written_only=True))
                self._source = catalogue
            return self._index

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_lock", "_source", "_index"):  # copy, pickle, …
            raise AttributeError(name)
        return getattr(self.current(), name)


_DEFAULT = LiveIndex()


def default_index() -> LiveIndex:
    """The index of the default catalogue, one per process, following its changes."""
    return _DEFAULT

"""The loaded catalogue: lookup by id, alias phrases and full-text search."""

from __future__ import annotations

import sqlite3
import threading
from typing import Iterable, Iterator, Mapping

import sqlite_utils

from procedures import search as _search
from procedures.model import Procedure


class Catalogue:
    """All procedures, by id. Build it with ``load_catalogue()``, which validates the files."""

    def __init__(self, procedures: Iterable[Procedure], *, flags: Mapping[str, Iterable[str]] | None = None,
                 imported: Iterable[str] = ()):
        self._by_id = {p.id: p for p in sorted(procedures, key=lambda p: p.id)}
        # Quality flags of imported records (procedure id -> "district_level:steps", "no_agency", …) and the
        # ids that come from the national database; both empty for the hand-written catalogue.
        self._flags = {pid: tuple(f) for pid, f in (flags or {}).items() if pid in self._by_id}
        self._imported = frozenset(pid for pid in imported if pid in self._by_id)
        self._phrases: dict[str, str] | None = None
        self._db: sqlite_utils.Database | None = None
        self._lock = threading.Lock()

    def get(self, procedure_id: str | None) -> Procedure | None:
        return self._by_id.get(procedure_id) if procedure_id else None

    def all(self) -> list[Procedure]:
        """Every procedure, ordered by id."""
        return list(self._by_id.values())

    def ids(self) -> list[str]:
        return list(self._by_id)

    def flags(self, procedure_id: str | None) -> tuple[str, ...]:
        """The quality flags set at import ("expired_fee_note:channels", …); () for hand-written records."""
        return self._flags.get(procedure_id, ()) if procedure_id else ()

    def is_imported(self, procedure_id: str | None) -> bool:
        """Whether the record comes from the national database import (not checked by the city)."""
        return procedure_id in self._imported

    def __contains__(self, procedure_id: object) -> bool:
        return procedure_id in self._by_id

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_id)

    def alias_phrases(self) -> dict[str, str]:
        """Folded phrase (alias, name, short name, id with spaces) → procedure id.

        Phrases are ``fold()``-ed with punctuation dropped ("hộ chiếu" → "ho chieu").
        The loader guarantees that no phrase names two procedures.
        """
        if self._phrases is None:
            self._phrases = {_search.fold_phrase(text): p.id
                             for p in self.all() for _, text in _search.phrase_fields(p)}
        return dict(self._phrases)

    def search(self, text: str, limit: int = 3) -> list[tuple[Procedure, float]]:
        """The procedures that best match ``text`` (with or without diacritics), best first.

        The score is higher for better matches and only comparable within one query
        (see ``procedures.search``). Unrelated text gives an empty list.
        """
        phrases = self.alias_phrases()
        with self._lock:
            ranked = _search.rank(self._database(), text, phrases, limit)
        return [(self._by_id[pid], score) for pid, score in ranked]

    def _database(self) -> sqlite_utils.Database:
        """The in-memory search database, built on first use (call with the lock held)."""
        if self._db is None:
            connection = sqlite3.connect(":memory:", check_same_thread=False)
            self._db = _search.populate(sqlite_utils.Database(connection), self)
        return self._db

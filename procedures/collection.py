"""The loaded catalogue: lookup by id, alias phrases and full-text search."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from procedures import search as _search
from procedures.model import Procedure

if TYPE_CHECKING:
    from procedures.retrieval import Retriever


class Catalogue:
    """All procedures, by id. Build it with ``load_catalogue()``, which validates the files."""

    def __init__(self, procedures: Iterable[Procedure], *, flags: Mapping[str, Iterable[str]] | None = None,
                 imported: Iterable[str] = (), faq: Iterable[object] | None = None,
                 covered_names: Mapping[str, Iterable[str]] | None = None):
        self._by_id = {p.id: p for p in sorted(procedures, key=lambda p: p.id)}
        # Hand-written id -> official names of the imported records it answers for (its ``covers``).
        self._covered = {pid: tuple(n) for pid, n in (covered_names or {}).items() if pid in self._by_id}
        # Quality flags of imported records (procedure id -> "district_level:steps", "no_agency", …) and the
        # ids that come from the national database; both empty for the hand-written catalogue.
        self._flags = {pid: tuple(f) for pid, f in (flags or {}).items() if pid in self._by_id}
        self._imported = frozenset(pid for pid in imported if pid in self._by_id)
        self._phrases: dict[str, str] | None = None
        # Entries of the services FAQ found by the same retrieval (None: procedures/faq.yml).
        self._faq = faq
        self._retriever: "Retriever | None" = None
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

    def covered_names(self, procedure_id: str | None) -> tuple[str, ...]:
        """The official names of the imported records a hand-written record answers for (``covers``)."""
        return self._covered.get(procedure_id, ()) if procedure_id else ()

    def is_imported(self, procedure_id: str | None) -> bool:
        """Whether the record comes from the national database import (not checked by the city)."""
        return procedure_id in self._imported

    def __contains__(self, procedure_id: object) -> bool:
        return procedure_id in self._by_id

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_id)

    def alias_phrases(self, hand_written_only: bool = False) -> dict[str, str]:
        """Folded phrase (alias, name, short name, id with spaces) → procedure id.

        Phrases are ``fold()``-ed with punctuation dropped ("hộ chiếu" → "ho chieu").
        The loader guarantees that no phrase names two hand-written procedures; among the
        imported records a phrase names the first record (by id) that has it.
        """
        if self._phrases is None:
            phrases: dict[str, str] = {}
            for p in sorted(self.all(), key=lambda p: (p.id in self._imported, p.id)):
                for _, text in _search.phrase_fields(p):
                    phrases.setdefault(_search.fold_phrase(text), p.id)
            self._phrases = phrases
        if hand_written_only:
            return {phrase: pid for phrase, pid in self._phrases.items() if pid not in self._imported}
        return dict(self._phrases)

    def national_code(self, procedure_id: str | None) -> str | None:
        """The procedure's code in the national database (None for a record that has none)."""
        procedure = self.get(procedure_id)
        return procedure.code if procedure is not None else None

    def hand_written(self) -> list[Procedure]:
        """The records written and checked by hand (procedures/catalogue), not imported."""
        return [p for p in self.all() if p.id not in self._imported]

    @property
    def retriever(self) -> "Retriever":
        """The retrieval over this catalogue and the services FAQ, built on first use."""
        with self._lock:
            if self._retriever is None:
                from procedures.retrieval import Retriever

                self._retriever = Retriever(self, faq=self._faq)
            return self._retriever

    def search(self, text: str, limit: int = 3) -> list[tuple[Procedure, float]]:
        """The procedures that best match ``text`` (with or without diacritics), best first.

        The score is bm25 with the retrieval's priors: higher is better, comparable only
        within one query (see ``procedures.retrieval``). Unrelated text gives an empty list.
        """
        if limit <= 0:
            return []
        return [(c.procedure, c.score) for c in self.retriever.rank(text, limit=limit)]

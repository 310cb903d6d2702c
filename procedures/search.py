"""Diacritic-insensitive search over the catalogue with SQLite FTS5 (built with sqlite-utils).

The database holds one row per procedure with display columns and *folded* columns
(lower case, no diacritics, "đ" → "d"); the FTS5 index covers the folded columns, and
queries are folded the same way, so "ho chieu" and "hộ chiếu" find the same rows.

Ranking: when aliases, names or short names of procedures appear word for word in the
query, only those procedures are returned, the longer phrase first; full-text relevance
(bm25 over name, aliases, field and papers, mapped into [0, 1)) breaks ties. Otherwise
the full-text matches are returned, dropping those far weaker than the best. The score
is ``words of the longest phrase matched + relevance``: higher is better, comparable
only within one query.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

import sqlite_utils

from bot.vntext import fold, normalize
from procedures.model import Procedure

if TYPE_CHECKING:
    from procedures.collection import Catalogue

TABLE = "procedures"
PHRASE_TABLE = "aliases"
# FTS columns and their bm25 weights, in index order.
FTS_WEIGHTS = {"name_folded": 10.0, "aliases_folded": 8.0, "field_folded": 2.0, "papers_folded": 1.0}
# Without a named procedure, full-text matches below this relevance, or below this share
# of the best one, are dropped (a word that every record contains is noise).
MIN_RELEVANCE = 0.1
MIN_SHARE_OF_BEST = 0.5
# Function words that say nothing about which procedure is meant (folded). They still
# count inside two-word phrases ("lam ho" in "làm hộ chiếu").
STOPWORDS = frozenset("""
    a ah ai anh bao bi cai can cho chi chinh co cua da dan dau de den di do duoc em gi gio giup giay
    hanh hoi hom huong khi khong la lam lau le minh muon nao nay neu nhe nhieu nhu nhung nop o oi phai
    phi qua ra roi se the thi thu to toi tuc tai va vay ve viec voi xin
""".split())


def words(text: str) -> list[str]:
    """The folded words of ``text`` (punctuation dropped)."""
    return re.findall(r"\w+", fold(text))


def fold_phrase(text: str) -> str:
    """``text`` folded, punctuation dropped, words joined by single spaces."""
    return " ".join(words(text))


def phrase_fields(procedure: Procedure) -> list[tuple[str, str]]:
    """(field path, text) for every phrase that names ``procedure``: aliases, name, short name, id."""
    fields = [(f"aliases[{i}]", alias) for i, alias in enumerate(procedure.aliases)]
    fields += [("name", procedure.name), ("short_name", procedure.short_name),
               ("id", procedure.id.replace("-", " "))]
    return fields


def phrase_variants(text: str) -> set[str]:
    """The folded forms under which a phrase is matched: as written and with abbreviations expanded."""
    return {v for v in (fold_phrase(text), fold_phrase(normalize(text))) if v}


# --- building ---------------------------------------------------------------------------------

def populate(db: sqlite_utils.Database, catalogue: "Catalogue") -> sqlite_utils.Database:
    """(Re)create the procedure, alias and FTS tables in ``db``."""
    for name in (TABLE, PHRASE_TABLE):
        if db[name].exists():
            if name == TABLE and db[name].detect_fts():
                db[name].disable_fts()
            db[name].drop()
    db[TABLE].insert_all((_row(p) for p in catalogue.all()), pk="id")
    db[TABLE].enable_fts(list(FTS_WEIGHTS), fts_version="FTS5")
    db[PHRASE_TABLE].insert_all(
        ({"phrase": phrase, "procedure_id": pid} for phrase, pid in catalogue.alias_phrases().items()),
        pk="phrase",
    )
    return db


def build_database(catalogue: "Catalogue", path: str | Path) -> sqlite_utils.Database:
    """Write the catalogue and its search index to the SQLite file ``path``."""
    return populate(sqlite_utils.Database(path), catalogue)


def _row(p: Procedure) -> dict:
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "short_name": p.short_name,
        "field": p.field,
        "level": ",".join(p.level),
        "agency": p.agency,
        "name_folded": fold_phrase(f"{p.name} {p.short_name}"),
        "aliases_folded": " ; ".join(fold_phrase(a) for a in p.aliases),
        "field_folded": fold_phrase(p.field),
        "papers_folded": fold_phrase(" ".join(_paper_texts(p))),
        "record": json.dumps(dataclasses.asdict(p), ensure_ascii=False, default=str),
    }


def _paper_texts(p: Procedure) -> Iterable[str]:
    for group in p.papers:
        yield group.case
        for paper in group.items:
            yield paper.name
            if paper.form:
                yield paper.form


# --- querying ---------------------------------------------------------------------------------

def rank(db: sqlite_utils.Database, text: str, phrases: Mapping[str, str], limit: int = 3) -> list[tuple[str, float]]:
    """The ``limit`` best (procedure id, score) pairs for ``text``, best first."""
    if limit <= 0:
        return []
    variants = _query_variants(text)
    if not variants:
        return []
    named = _phrase_matches(variants, phrases)
    relevance = _fts_relevance(db, variants)
    if named:  # the query names procedures: only those
        scores = {pid: n + relevance.get(pid, 0.0) for pid, n in named.items()}
    else:  # otherwise the full-text matches close to the best one
        floor = max(MIN_RELEVANCE, MIN_SHARE_OF_BEST * max(relevance.values(), default=0.0))
        scores = {pid: r for pid, r in relevance.items() if r >= floor}
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]


def _query_variants(text: str) -> list[str]:
    """The query folded as written and after expanding chat abbreviations ("dk" → "đăng ký")."""
    return sorted(phrase_variants(text or ""))


def _phrase_matches(variants: list[str], phrases: Mapping[str, str]) -> dict[str, int]:
    """Procedure id → number of words of the longest of its phrases found in the query."""
    best: dict[str, int] = {}
    for variant in variants:
        padded = f" {variant} "
        for phrase, pid in phrases.items():
            if f" {phrase} " in padded:
                best[pid] = max(best.get(pid, 0), len(phrase.split()))
    return best


def _match_expression(variants: list[str]) -> str:
    """An FTS5 OR-query of the meaningful words and of every two-word phrase."""
    terms: list[str] = []
    for variant in variants:
        tokens = variant.split()
        candidates = [t for t in tokens if t not in STOPWORDS]
        candidates += [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
        terms += [t for t in candidates if t not in terms]
    return " OR ".join(f'"{t}"' for t in terms)


def _fts_relevance(db: sqlite_utils.Database, variants: list[str]) -> dict[str, float]:
    """Procedure id → bm25 relevance mapped into [0, 1)."""
    expression = _match_expression(variants)
    if not expression:
        return {}
    weights = ", ".join(str(w) for w in FTS_WEIGHTS.values())
    sql = (f"SELECT {TABLE}.id AS id, bm25({TABLE}_fts, {weights}) AS bm25 "
           f"FROM {TABLE}_fts JOIN {TABLE} ON {TABLE}.rowid = {TABLE}_fts.rowid "
           f"WHERE {TABLE}_fts MATCH ?")
    relevance = {}
    for row in db.query(sql, [expression]):
        strength = max(0.0, -row["bm25"])  # bm25() is negative; more negative = more relevant
        relevance[row["id"]] = strength / (1.0 + strength)
    return relevance

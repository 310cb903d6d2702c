"""The search index of the catalogue: SQLite FTS5 (built with sqlite-utils) and its bm25 ranking.

The database holds one row per procedure (and per FAQ entry) with display columns and
*folded* columns (lower case, no diacritics, "đ" → "d"); the FTS5 index covers the folded
name, aliases and field, and queries are folded the same way, so "ho chieu" and "hộ chiếu"
find the same rows. ``relevance()`` gives FTS5's bm25 for an OR-query of words and
phrases; reading a citizen's question and deciding which procedure it is about is
``procedures.retrieval``'s work.
"""

from __future__ import annotations

import re
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import sqlite_utils

from bot.vntext import fold, normalize
from procedures.model import Procedure

if TYPE_CHECKING:
    from procedures.collection import Catalogue

TABLE = "procedures"
PHRASE_TABLE = "aliases"
# FTS columns and their bm25 weights, in index order.
FTS_WEIGHTS = {"name_folded": 10.0, "aliases_folded": 8.0, "field_folded": 1.0}
# Function words that say nothing about which procedure is meant (folded). They still
# count inside two-word phrases ("lam ho" in "làm hộ chiếu").
STOPWORDS = frozenset("""
    a ah ai anh bao bi cai can cho chi chinh co cua da dan dau de den di do duoc em gi gio giup giay
    hanh hoi hom huong khi khong la lam lau le minh muon nao nay neu nhe nhieu nhu nhung nop o oi phai
    phi qua ra roi se the thi thu to toi tuc tai va vay ve viec voi xin
    ad admin ah bi chung day ha hay kia moi nha_ nhe oi sao xong vang_ ak ok dum tren muc xai biet kieu gia ko k j dc hok kh
""".split()) - {"nha_", "vang_"}


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

def populate(db: sqlite_utils.Database, catalogue: "Catalogue", faq: Iterable = ()) -> sqlite_utils.Database:
    """(Re)create the procedure, alias and FTS tables in ``db``.

    ``faq`` entries (``procedures.faq.FaqEntry``) are indexed beside the procedures, with ids
    ``faq:<id>``, their questions as aliases and their topic as field.
    """
    for name in (TABLE, PHRASE_TABLE):
        if db[name].exists():
            if name == TABLE and db[name].detect_fts():
                db[name].disable_fts()
            db[name].drop()
    rows = [*(_row(p, catalogue.covered_names(p.id)) for p in catalogue.all()), *(_faq_row(entry) for entry in faq)]
    db[TABLE].insert_all(rows, pk="id")   # the FAQ rows last: their rowids follow every procedure's
    _FAQ_ROWID.pop(db, None)
    db[TABLE].enable_fts(list(FTS_WEIGHTS), fts_version="FTS5")
    db[PHRASE_TABLE].insert_all(
        ({"phrase": phrase, "procedure_id": pid} for phrase, pid in catalogue.alias_phrases().items()),
        pk="phrase",
    )
    return db


def build_database(catalogue: "Catalogue", path: str | Path) -> sqlite_utils.Database:
    """Write the catalogue and its search index to the SQLite file ``path``."""
    return populate(sqlite_utils.Database(path), catalogue)


def title_text(name: str) -> str:
    """The folded name without the "Thủ tục" that many official names start with."""
    return re.sub(r"^thu tuc ", "", fold_phrase(name))


def _row(p: Procedure, covered_names: Iterable[str] = ()) -> dict:
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "short_name": p.short_name,
        "field": p.field,
        "level": ",".join(p.level),
        "agency": p.agency,
        "name_folded": title_text(p.name),
        # Each alias phrase once, without the ones another alias contains: a record with thirty
        # aliases must not outweigh an official name just by repeating its words (bm25's tf).
        # (the names of the imported records it covers are aliases too)
        "aliases_folded": " ; ".join(_distinct_phrases(fold_phrase(a) for a in (p.short_name, *p.aliases,
                                                                                *map(covered_text, covered_names)))),
        "field_folded": fold_phrase(p.field),
    }


def covered_text(name: str) -> str:
    """The folded name of an imported record a hand-written one covers, without its "(thực hiện tại cấp …)"."""
    return title_text(re.sub(r"\([^)]*\)", " ", name))


def _distinct_phrases(phrases: Iterable[str]) -> list[str]:
    """The phrases without duplicates and without those contained, word for word, in a longer one."""
    unique = sorted({p for p in phrases if p}, key=lambda p: (-len(p), p))
    kept: list[str] = []
    for phrase in unique:
        if not any(f" {phrase} " in f" {longer} " for longer in kept):
            kept.append(phrase)
    return kept


def _faq_row(entry) -> dict:
    return {
        "id": f"faq:{entry.id}", "code": None, "name": entry.questions[0], "short_name": entry.questions[0],
        "field": entry.topic, "level": "", "agency": "",
        "name_folded": fold_phrase(entry.questions[0]),
        "aliases_folded": " ; ".join(fold_phrase(q) for q in entry.questions[1:]),
        "field_folded": fold_phrase(entry.topic.replace("_", " ")),
    }


# --- querying ---------------------------------------------------------------------------------

_FAQ_ROWID: "weakref.WeakKeyDictionary[sqlite_utils.Database, int | None]" = weakref.WeakKeyDictionary()


def _faq_rowid(db: sqlite_utils.Database) -> int | None:
    """The first rowid of the FAQ rows (``populate`` inserts them after the procedures), or None."""
    if db not in _FAQ_ROWID:
        _FAQ_ROWID[db] = db.conn.execute(f"SELECT min(rowid) FROM {TABLE} WHERE id LIKE 'faq:%'").fetchone()[0]
    return _FAQ_ROWID[db]


def relevance(db: sqlite_utils.Database, terms: Iterable[str], faq: bool = False,
              limit: int | None = None) -> dict[str, float]:
    """Row id → bm25 strength (``-bm25()``: 0 for no match, higher is better) for an OR-query of ``terms``.

    ``terms`` are folded words or phrases of words ("ho chieu"); each is quoted, so FTS5
    syntax in them has no effect. ``faq``: the FAQ rows only, else the procedures only.
    ``limit``: only the strongest ``limit`` rows (in insertion order, strongest first).
    """
    expression = " OR ".join(f'"{t}"' for t in terms if re.fullmatch(r"[\w ]+", t))
    if not expression:
        return {}
    weights = ", ".join(str(w) for w in FTS_WEIGHTS.values())
    sql = (f"SELECT {TABLE}.id, bm25({TABLE}_fts, {weights}) AS score "
           f"FROM {TABLE}_fts JOIN {TABLE} ON {TABLE}.rowid = {TABLE}_fts.rowid "
           f"WHERE {TABLE}_fts MATCH ? AND {TABLE}.id {'' if faq else 'NOT '}LIKE 'faq:%'")
    # The same rows and scores (bm25's statistics are over the whole table either way), but FTS5 reads
    # only the FAQ's or the procedures' rowids: a FAQ lookup no longer scores thousands of procedures.
    first_faq = _faq_rowid(db)
    if first_faq is not None:
        sql += f" AND {TABLE}_fts.rowid {'>=' if faq else '<'} {int(first_faq)}"
    elif faq:
        return {}
    if limit is not None:
        sql += f" ORDER BY score LIMIT {int(limit)}"
    # The plain connection: a common word matches thousands of rows, and building a dict per
    # row (sqlite-utils' query()) was most of the retrieval's time.
    return {row_id: max(0.0, -score) for row_id, score in db.conn.execute(sql, [expression])}

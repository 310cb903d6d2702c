"""Finding the procedure a citizen asks about among thousands of records.

The NLU decides *what* the citizen wants to know (the intent); this module decides *which*
procedure (or which entry of the services FAQ, ``procedures/faq.yml``) the words point to.
It reads the catalogue when the process starts: adding or changing a record needs no
retraining.

How a question is read:

1. Folded (lower case, no diacritics) as written and with chat abbreviations expanded
   ("dk xe may" → "dang ky xe may").
2. Words that say what the citizen wants to know ("lệ phí bao nhiêu", "cần giấy tờ gì",
   ``QUESTION_PHRASES``) are cut out; they say nothing about the procedure.
3. Citizen words get their official words from the reviewed synonym table
   (``procedures/synonyms.yml``: "sổ đỏ" → "giấy chứng nhận quyền sử dụng đất").
4. The words and every pair of neighbouring words are searched with SQLite FTS5 over the
   records' names, aliases and fields, ranked by FTS5's bm25 (``procedures.search``).
5. Two priors, both documented here: records for citizens at commune or province level are
   preferred to ministry-level ones and to ones for enterprises only; a record whose name says
   it is done at the district level (abolished on 1 July 2025) is put last.
6. Records of one *family* that differ only by level or by channel ("… (thực hiện tại cấp
   tỉnh)", "… bằng dịch vụ công trực tuyến toàn trình") count once: the best-ranked member.

The decision (``Resolution``): *sure* when one record stands clearly above the others
(``CLOSE_SHARE``); *ask* with at most ``MAX_CANDIDATES`` buttons when several are close;
*nothing* when the best one is too weak (``MIN_STRENGTH``): the bot then says so and never
answers with another procedure's facts.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

import sqlite_utils
import yaml

from procedures import search
from procedures.search import STOPWORDS, fold_phrase, phrase_variants

if TYPE_CHECKING:
    from procedures.collection import Catalogue
    from procedures.model import Procedure

SYNONYMS_FILE = Path(__file__).resolve().parent / "synonyms.yml"
MAX_CANDIDATES = 4
# A record within this share of the best one's strength is "close": the bot asks which.
CLOSE_SHARE = 0.8
# Below this bm25 strength (after priors) the best record is not a match at all.
MIN_STRENGTH = 25.0
# Priors (multipliers of the bm25 strength).
MINISTRY_ONLY = 0.8       # only at ministry level
ENTERPRISE_ONLY = 0.7     # for enterprises/organisations, not for citizens
DISTRICT_LEVEL = 0.5      # name says "cấp huyện" (abolished on 1 July 2025)
# A record one of whose names (name, short name, alias) appears word for word in the question
# gets 1 + this × the words of that name (at most 6).
NAMED_BONUS_PER_WORD = 0.1
# The coverage factor: this much for a record that covers none of the question's meaningful parts,
# rising to 1 for one that covers them all.
COVERAGE_FLOOR = 0.4
# An FAQ entry is the answer when its questions have this share of the question's words (and this
# bm25 strength), and more of them than the best procedure has.
FAQ_COVERAGE = 0.75
FAQ_MIN_STRENGTH = 10.0
# Below this share of the question's meaningful parts covered by the best match, nothing is found.
MIN_COVERAGE = 0.34
# A name found only with a typo is taken when its words are this share of the question's meaningful words.
TYPO_COVERAGE = 0.8
# How many words a synonym that fired counts for, in the coverage.
SYNONYM_WEIGHT = 2.0
# A single match is answered only when it covers this share of the question's meaningful parts;
# otherwise the bot asks ("Có phải bạn hỏi về …?").
SURE_COVERAGE = 0.6
# A procedure named word for word is kept unless the search finds another one this much stronger.
KEEP_SHARE = 0.6
# A record at least this share as strong as a named procedure, that covers parts of the question the
# named one does not ("đăng ký lại khai sinh" for "giấy khai sinh mất, làm lại"), makes the bot ask.
SIBLING_SHARE = 0.7
# A member of the named record's family that shares a reviewed family modifier with the question
# ("đăng ký lại") is offered down to this share of the named record's strength.
MODIFIER_SIBLING_SHARE = 0.4
# A word in at most this share of the titles is specific enough to tell a record from its family.
RARE_TITLE_SHARE = 0.01
# A word in more than this share of the titles ("đăng ký", "cấp", "nhận") is too common to make a record
# cover a synonym's official phrase (``Retriever._share``).
GENERIC_TITLE_SHARE = 0.1
# How many of the strongest bm25 matches get the word-level factors (coverage, names).
RERANK_DEPTH = 60
FETCH_DEPTH = 4 * RERANK_DEPTH   # rows read by bm25 before the priors (see _ranked)
FAQ_ID_PREFIX = "faq:"
# Words that tell the members of a family apart ("đăng ký lại kết hôn", "khai sinh có yếu tố
# nước ngoài", "cấp lại … do bị mất"), folded. When the question and a member's official name
# share one that the named hand-written record does not have, the bot asks rather than answer
# the hand-written one (see _specific_siblings). Reviewed by the project team, 2026-12-03.
FAMILY_MODIFIERS = frozenset(fold_phrase(m) for m in (
    "cấp lại", "đăng ký lại", "cấp đổi", "bị mất", "báo mất", "khôi phục", "nước ngoài", "yếu tố nước ngoài",
    "gia hạn", "xóa đăng ký", "chấm dứt", "tạm ngừng", "thay đổi", "cải chính", "bổ sung thông tin",
    "trích lục", "bản sao", "dưới 14 tuổi", "quốc tế", "quân sự", "sửa chữa", "di dời", "thu hồi",
    "nhận cha, mẹ, con", "kết hợp", "tách hộ", "con nuôi", "giám hộ", "đính chính"))

# Words that say what the citizen wants to know, not which procedure (folded, longest first
# when matched). "giấy tờ", "hồ sơ" stay in two-word pairs only through the names they occur in.
QUESTION_PHRASES = sorted({
    "le phi", "phi", "chi phi", "bao nhieu tien", "bao nhieu", "het bao nhieu", "mat bao nhieu", "ton bao nhieu",
    "thoi gian", "bao lau", "mat bao lau", "bao gio", "may ngay", "bao nhieu ngay", "khi nao", "lau khong",
    "o dau", "nop o dau", "lam o dau", "cho nao", "co quan nao", "noi nao",
    "nhu the nao", "the nao", "ra sao", "lam sao", "cach nao", "cach lam", "the nao a",
    "can gi", "can nhung gi", "can giay to gi", "giay to gi", "gom nhung gi", "nhung gi", "can chuan bi",
    "can mang theo", "mang theo", "chuan bi", "giay to can", "thanh phan ho so", "ho so gom",
    "thu tuc", "thu tuc hanh chinh", "huong dan", "quy trinh", "trinh tu", "cac buoc", "tung buoc",
    "dieu kien", "quy dinh", "can cu phap ly", "luat nao", "co duoc khong", "duoc khong", "co can",
    "xin hoi", "cho hoi", "cho em hoi", "cho minh hoi", "cho toi hoi", "hoi ve", "muon hoi", "tu van",
    "ah", "a", "nhe", "vay", "voi", "giup", "giup em", "giup minh", "lam on", "cam on", "chao",
    "online", "truc tuyen", "qua mang", "tren mang", "dich vu cong", "cong dich vu cong", "vneid", "app", "ung dung",
    # how and where, not which: channels, places, papers in general, results
    "nop ho so", "ho so", "nop", "truc tiep", "buu dien", "buu chinh", "gui qua", "ban goc", "ban chinh", "photo",
    "mot cua", "bo phan mot cua", "trung tam phuc vu hanh chinh cong", "ubnd", "uy ban nhan dan", "uy ban",
    "xa", "phuong", "tinh", "thanh pho", "quan", "huyen", "len tinh", "ket qua", "giay hen", "mien phi", "cong an",
    "lam thay", "nguoi khac", "bat buoc", "tre han", "bi phat", "dong tien", "tien", "may tinh", "dien thoai",
    "anh the", "mau don", "to khai", "ngay lam viec", "ngay", "tuan", "thang", "nam",
    "thuc hien", "cach thuc", "xu ly", "giai quyet", "chi tiet", "khac nhau", "bao nhieu lau",
    # speed and "is it allowed yet": what the citizen wants to know about it
    "nhanh", "nhanh nhat", "nhanh nhut", "duoc chua",
    # where a dossier is (a status check names its procedure, the retrieval confirms it)
    "xong chua", "da xong chua", "den dau roi", "toi dau roi", "duyet chua", "co ket qua chua", "lam xong chua",
}, key=lambda p: (-len(p.split()), p))
_QUESTION_RE = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, QUESTION_PHRASES)) + r")(?!\w)")
# Said before the synonym table is read, because they say how or of whom, not which procedure:
# a channel ("trên VNeID", "qua app VNeID": VNeID is then the way, not the account procedure) and
# a bare age ("cho bé 3 tuổi", "nam 19 tuổi"; "dưới 14 tuổi", "từ đủ 14 tuổi" stay: they name a case).
_CHANNEL_RE = re.compile(r"(?<!\w)(?:tren|qua|bang|tu|vao|trong) (?:app |ung dung )?vneid(?!\w)")
_AGE_RE = re.compile(r"(?<!duoi )(?<!tren )(?<!du )(?<!tu )(?<!\w)\d{1,3} tuoi(?!\w)")

# Parts of an official name that only say at which level or through which channel it is done.
_FAMILY_NOISE = re.compile(
    r"\((?:thuc hien )?(?:tai|o) cap [^)]*\)|\(cap [^)]*\)"
    r"|thuc hien (?:tai|o) cap (?:trung uong|tinh|xa|huyen|bo)(?:, cap (?:tinh|xa|huyen))*"
    r"|(?:thuc hien )?bang dich vu cong truc tuyen (?:toan trinh|mot phan)(?: hoac truc tiep)?"
    r"|truc tuyen toan trinh|^thu tuc ")
_DISTRICT_NAME = re.compile(r"cap huyen")


class SynonymError(ValueError):
    """The synonym table is invalid; the message says where."""


@dataclass(frozen=True)
class Synonym:
    citizen: tuple[str, ...]   # folded phrases as citizens write them
    official: tuple[str, ...]  # folded official phrases added to the search


def load_synonyms(path: str | Path | None = None) -> tuple[Synonym, ...]:
    """Read and check ``procedures/synonyms.yml`` (or ``path``)."""
    path = Path(path) if path is not None else SYNONYMS_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SynonymError(f"{path.name}: {' '.join(str(error).split())}") from None
    entries = raw.get("synonyms") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise SynonymError(f"{path.name}: expected a mapping with a list under 'synonyms'")
    result, owners = [], {}
    for i, entry in enumerate(entries):
        where = f"{path.name}: synonyms[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"citizen", "official"}:
            raise SynonymError(f"{where}: expected exactly the keys 'citizen' and 'official'")
        lists = {}
        for key in ("citizen", "official"):
            values = entry[key]
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and fold_phrase(v) for v in values):
                raise SynonymError(f"{where}.{key}: expected a non-empty list of phrases")
            lists[key] = tuple(dict.fromkeys(fold_phrase(v) for v in values))
        for phrase in lists["citizen"]:
            if owners.setdefault(phrase, i) != i:
                raise SynonymError(f"{where}.citizen: {phrase!r} is already in synonyms[{owners[phrase]}]")
        result.append(Synonym(lists["citizen"], lists["official"]))
    return tuple(result)


@dataclass(frozen=True)
class Candidate:
    """A procedure the question may be about, with its strength (bm25 × priors; higher is better)."""

    procedure: "Procedure"
    score: float

    def as_json(self) -> dict:
        """``{"id", "code", "name", "score"}`` as in ``python -m bot parse``'s ``candidates``."""
        return {"id": self.procedure.id, "code": self.procedure.code, "name": readable_name(self.procedure),
                "score": round(self.score, 3)}


@dataclass(frozen=True)
class Resolution:
    """Which procedure a question is about.

    ``procedure`` is set when the retrieval is sure; ``candidates`` (2–4) when several are
    close and the bot should ask which; neither when nothing matched (``words`` then says what
    was understood, for the answer "Mình chưa tìm thấy thủ tục …"). ``faq`` is set instead of
    ``procedure`` when the question is about using the online services.
    """

    procedure: "Procedure | None" = None
    candidates: tuple[Candidate, ...] = ()
    words: str = ""
    faq: object | None = None
    ranked: tuple[Candidate, ...] = field(default=(), repr=False)

    @property
    def found(self) -> bool:
        return self.procedure is not None or self.faq is not None or bool(self.candidates)


@dataclass(frozen=True)
class Query:
    """A question read for retrieval: its segments of meaningful words and the FTS terms."""

    segments: tuple[str, ...]   # folded word runs without question words (as written and expanded)
    expansions: tuple[str, ...]  # official phrases added from the synonym table
    terms: tuple[str, ...]       # FTS5 terms: words and neighbouring pairs
    content_words: tuple[str, ...] = ()  # meaningful words outside the citizen phrases that fired
    synonym_groups: tuple[tuple[str, ...], ...] = ()  # the official phrases of each synonym that fired
    citizen: tuple[str, ...] = ()  # the citizen phrases that fired

    @property
    def words(self) -> str:
        """What was understood as the procedure (folded): the citizen phrases and the other meaningful words."""
        return " ".join([*self.citizen, *self.segments])


class Retriever:
    """Ranks a catalogue's records (and the FAQ entries) for citizens' questions."""

    def __init__(self, catalogue: "Catalogue", synonyms: Iterable[Synonym] | None = None,
                 faq: Iterable[object] | None = None):
        self.catalogue = catalogue
        self.synonyms = tuple(synonyms) if synonyms is not None else default_synonyms()
        entries = tuple(faq) if faq is not None else _default_faq()
        self.faq = {f"{FAQ_ID_PREFIX}{entry.id}": entry for entry in entries}
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        self._db = search.populate(sqlite_utils.Database(connection), catalogue, entries)
        self._lock = threading.Lock()
        phrases = {}
        for synonym in self.synonyms:
            for phrase in synonym.citizen:
                phrases[phrase] = synonym.official
        self._synonyms = phrases
        alternatives = sorted(phrases, key=lambda p: (-len(p), p))
        self._synonym_re = (re.compile(r"(?<!\w)(" + "|".join(map(re.escape, alternatives)) + r")(?!\w)")
                            if alternatives else None)
        self._families = {p.id: family_key(p.name) for p in catalogue}
        self._priors = {p.id: prior(p, catalogue) for p in catalogue}
        # Record id -> its folded naming phrases (name, short name, aliases) and its words.
        self._phrases: dict[str, tuple[str, ...]] = {}
        self._words: dict[str, frozenset[str]] = {}
        self._names: dict[str, tuple[str, ...]] = {}
        self._titles = {p.id: search.title_text(p.name) for p in catalogue}
        counts: dict[str, int] = {}
        for title in self._titles.values():
            for word in set(title.split()):
                counts[word] = counts.get(word, 0) + 1
        self._title_share = {w: n / max(1, len(self._titles)) for w, n in counts.items()}
        # Hand-written record id -> the folded names of its papers' cases: what the record answers for
        # besides its name ("Cấp lại do hộ chiếu bị mất"), for the family modifiers. The names of the
        # imported records it covers join its naming phrases.
        self._cases: dict[str, tuple[str, ...]] = {}
        for p in catalogue:
            phrases = {search.title_text(p.name), *(v for a in (p.short_name.rstrip("…"), *p.aliases)
                                                    for v in phrase_variants(a)),
                       *(search.covered_text(n) for n in catalogue.covered_names(p.id))}
            self._cases[p.id] = tuple(fold_phrase(g.case) for g in p.papers) if p.aliases else ()
            self._phrases[p.id] = tuple(sorted(x for x in phrases if len(x.split()) >= 2))
            self._names[p.id] = tuple(sorted(phrases | {v for a in p.aliases for v in phrase_variants(a)}))
            # of the cases, only the family modifiers they name ("bị mất" in "Cấp lại do hộ chiếu bị mất"):
            # a case's other words ("về ở với người thân") are no evidence of what the question is about
            cased = [m for m in FAMILY_MODIFIERS if any(f" {m} " in f" {case} " for case in self._cases[p.id])]
            self._words[p.id] = frozenset(" ".join([*phrases, *cased, fold_phrase(p.field)]).split())
        for row_id, entry in self.faq.items():
            phrases = {v for q in entry.questions for v in phrase_variants(q)}
            self._words[row_id] = frozenset(" ".join(phrases).split())
            self._phrases[row_id] = ()

    # --- reading the question -------------------------------------------------------------
    def read(self, text: str) -> Query:
        """The question's meaningful word runs, the synonym expansions and the FTS terms."""
        segments: list[str] = []
        expansions: list[str] = []
        groups: list[tuple[str, ...]] = []
        content: list[str] = []
        citizen: list[str] = []
        protected = _protected_words(text or "")
        for variant in sorted(phrase_variants(text or "")):
            variant = _AGE_RE.sub(" | ", _CHANNEL_RE.sub(" | ", variant))
            # Citizen phrases of the synonym table are replaced by their official phrases.
            fired = list(self._synonym_re.finditer(variant)) if self._synonym_re is not None else []
            for match in fired:
                if match.group(1) not in citizen:
                    citizen.append(match.group(1))
                officials = self._synonyms[match.group(1)]
                if officials not in groups:
                    groups.append(officials)
                expansions += [o for o in officials if o not in expansions]
            rest = variant
            for match in reversed(fired):
                rest = rest[:match.start()] + " | " + rest[match.end():]
            for run in _QUESTION_RE.split(rest)[::2]:
                for part in run.split("|"):
                    part = " ".join(part.split())
                    if part and any(_meaningful(w, protected) for w in part.split()) and part not in segments:
                        segments.append(part)
                    content += [w for w in part.split() if _meaningful(w, protected) and w not in content]
        terms: list[str] = []
        for run in [*segments, *expansions]:
            tokens = run.split()
            for token in tokens:
                if _meaningful(token, protected) and token not in terms:
                    terms.append(token)
            for a, b in zip(tokens, tokens[1:]):
                pair = f"{a} {b}"
                if not (a in STOPWORDS and b in STOPWORDS) and pair not in terms:
                    terms.append(pair)
        return Query(tuple(segments), tuple(expansions), tuple(terms), tuple(content), tuple(groups), tuple(citizen))

    def _share(self, phrase: str, words: frozenset[str]) -> float:
        """The share of the specific words of an official ``phrase`` that are in ``words``: words that more
        than ``GENERIC_TITLE_SHARE`` of the titles have ("đăng ký", "cấp", "nhận") count only when the
        phrase has nothing else, so "khai sinh cho con" does not cover "đăng ký nhận cha, mẹ, con"."""
        meaningful = [w for w in phrase.split() if w not in STOPWORDS] or phrase.split()
        specific = [w for w in meaningful if self._title_share.get(w, 0.0) <= GENERIC_TITLE_SHARE] or meaningful
        return sum(w in words for w in specific) / len(specific)

    # --- ranking --------------------------------------------------------------------------
    def rank(self, text: str, limit: int = 10) -> list[Candidate]:
        """Procedures (not FAQ entries) for ``text``, strongest first, one per family."""
        return [c for c in self._ranked(self.read(text), limit=limit) if isinstance(c, Candidate)]

    def _ranked(self, query: Query, limit: int) -> list:
        if not query.terms:
            return []
        # bm25 × prior for every match, then the word-level factors for the strongest ones only.
        # Priors only lower a score, so the strongest FETCH_DEPTH rows by bm25 hold the
        # RERANK_DEPTH strongest by bm25 × prior whenever RERANK_DEPTH of them still score at
        # least the weakest fetched bm25 (no row left out can beat that); else all rows are read.
        with self._lock:
            strengths = search.relevance(self._db, query.terms, limit=FETCH_DEPTH)
        first = self._first(strengths)
        if len(strengths) == FETCH_DEPTH:
            floor = min(strengths.values())
            if sum(1 for strength, _ in first if strength >= floor) < min(RERANK_DEPTH, len(first)) or \
                    len(first) < RERANK_DEPTH:
                with self._lock:
                    first = self._first(search.relevance(self._db, query.terms))
        ranked = [(strength * self._coverage(query, row_id) * self._named(query, row_id), row_id)
                  for strength, row_id in first]
        ranked.sort(key=lambda item: (-item[0], item[1]))
        result, families = [], set()
        for strength, row_id in ranked:
            family = self._families.get(row_id, row_id)
            if family in families or row_id not in self.catalogue:
                continue
            families.add(family)
            result.append(Candidate(self.catalogue.get(row_id), strength))
            if len(result) >= limit:
                break
        return result

    def _first(self, strengths: dict[str, float]) -> list[tuple[float, str]]:
        """The RERANK_DEPTH strongest rows by bm25 × prior."""
        return sorted(((strength * self._priors.get(row_id, 1.0), row_id) for row_id, strength in strengths.items()),
                      key=lambda item: (-item[0], item[1]))[:RERANK_DEPTH]

    def faq_hit(self, text: str) -> "FaqHit | None":
        """The FAQ entry ``text`` asks about, when one covers most of its words.

        The FAQ is about how the services work, so the words the procedure search leaves out
        ("bưu điện", "VNeID", "trực tuyến") count here; only stop words are left out.
        """
        if not self.faq:
            return None
        protected = _protected_words(text or "")
        terms: list[str] = []
        content: list[str] = []
        for variant in sorted(phrase_variants(text or "")):
            tokens = variant.split()
            for token in tokens:
                if _meaningful(token, protected) and token not in terms:
                    terms.append(token)
                    content.append(token)
            terms += [f"{a} {b}" for a, b in zip(tokens, tokens[1:])
                      if (_meaningful(a, protected) or _meaningful(b, protected)) and f"{a} {b}" not in terms]
        if not content:
            return None
        with self._lock:
            strengths = search.relevance(self._db, terms, faq=True)
        best = None
        for row_id, strength in strengths.items():
            words = self._words.get(row_id, frozenset())
            coverage = sum(w in words for w in content) / len(content)
            if coverage >= FAQ_COVERAGE and strength >= FAQ_MIN_STRENGTH and row_id in self.faq:
                score = strength * coverage
                if best is None or score > best.score:
                    best = FaqHit(self.faq[row_id], score, coverage)
        return best

    def _raw_coverage(self, query: Query, row_id: str) -> float:
        """The share of the question's meaningful parts the record covers: each synonym that fired
        counts ``SYNONYM_WEIGHT`` (a reviewed meaning), each other meaningful word 1."""
        words = self._words.get(row_id, frozenset())
        covered = total = 0.0
        for officials in query.synonym_groups:
            total += SYNONYM_WEIGHT
            covered += SYNONYM_WEIGHT * any(self._share(official, words) >= 0.5 for official in officials)
        for word in query.content_words:
            total += 1
            covered += word in words
        return covered / total if total else 1.0

    def _coverage(self, query: Query, row_id: str) -> float:
        """The coverage factor of the ranking: ``COVERAGE_FLOOR`` for a record that covers none of the
        question's meaningful parts, rising to 1 for one that covers them all."""
        return COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * self._raw_coverage(query, row_id)

    def _named_words(self, query: Query, row_id: str) -> int:
        """The words of the longest of the record's names that the question contains word for word.

        An official phrase from the synonym table counts as a whole: "giấy phép lái xe quân sự" does not
        name "đổi giấy phép lái xe" by its first four words."""
        best = 0
        phrases = self._phrases.get(row_id, ())
        for run in query.segments:
            padded = f" {run} "
            for phrase in phrases:
                if f" {phrase} " in padded:
                    best = max(best, len(phrase.split()))
        for official in query.expansions:
            if official in phrases:
                best = max(best, len(official.split()))
        return best

    def _parts(self, query: Query, row_id: str) -> set:
        """The question's meaningful parts (synonyms that fired, other words) the record covers."""
        words = self._words.get(row_id, frozenset())
        parts = {officials for officials in query.synonym_groups
                 if any(self._share(official, words) >= 0.5 for official in officials)}
        return parts | {w for w in query.content_words if w in words}

    def _specific_parts(self, query: Query, row_id: str) -> set:
        """The parts of the question the record's *name* covers: synonyms that fired, words of its title
        that few titles have (a word in one title of 50 says more than "người" or "cấp")."""
        title = set(self._titles.get(row_id, "").split())
        parts = {officials for officials in query.synonym_groups
                 if any(self._share(official, frozenset(title)) >= 0.5 for official in officials)}
        return parts | {w for w in query.content_words if w in title and self._title_share.get(w, 1.0) <= RARE_TITLE_SHARE}

    def _specific_siblings(self, query: Query, pid: str, ranked: Iterable[Candidate]) -> list["Procedure"]:
        """Strong records that cover parts of the question the named procedure does not cover."""
        mine = self._parts(query, pid)
        scores = {c.procedure.id: c.score for c in ranked}
        floor = SIBLING_SHARE * max(scores.get(pid, 0.0), MIN_STRENGTH)
        runs = [f" {run} " for run in query.segments]
        named_here = [ph for ph in self._names.get(pid, ()) if len(ph.split()) >= 2 and any(f" {ph} " in r for r in runs)]
        # an official phrase the synonym table read in the question, when the record's name has it
        named_here += [ph for ph in query.expansions if f" {ph} " in f" {self._titles.get(pid, '')} "]
        named_here = [ph for ph in named_here if ph not in FAMILY_MODIFIERS]  # "cấp lại" makes no family
        # A reviewed family modifier the question shares with a member ("đăng ký lại") is strong evidence:
        # that member is offered even well below the named record, which the name's bonus lifts.
        modifier_floor = MODIFIER_SIBLING_SHARE * max(scores.get(pid, 0.0), MIN_STRENGTH)
        return [c.procedure for c in ranked
                if c.procedure.id != pid and c.score >= modifier_floor
                and any(f" {ph} " in f" {self._titles[c.procedure.id]} " for ph in named_here)  # same family
                and ((c.score >= floor and (self._specific_parts(query, c.procedure.id) - mine
                                            or self._named_words(query, c.procedure.id) > self._named_words(query, pid)))
                     or self._modifiers(query, c.procedure.id) - self._name_modifiers(pid))][:MAX_CANDIDATES - 1]

    def _modifiers(self, query: Query, row_id: str) -> set:
        """The ``FAMILY_MODIFIERS`` that the question and the record's official name both have."""
        asked = " " + " ".join((*query.segments, *query.expansions)) + " "
        title = f" {self._titles.get(row_id, '')} "
        return {m for m in FAMILY_MODIFIERS if f" {m} " in asked and f" {m} " in title}

    def _name_modifiers(self, row_id: str) -> set:
        """The ``FAMILY_MODIFIERS`` in the record's official name, aliases, names it covers and, for a
        hand-written record, the cases of its papers ("Cấp lại do hộ chiếu bị mất")."""
        texts = [f" {t} " for t in (self._titles.get(row_id, ""), *self._names.get(row_id, ()),
                                    *self._cases.get(row_id, ()))]
        return {m for m in FAMILY_MODIFIERS if any(f" {m} " in t for t in texts)}

    def _covers_synonyms(self, query: Query, pid: str) -> bool:
        """Whether the record's words cover every synonym that fired (one of its official phrases)."""
        words = self._words.get(pid, frozenset())
        return all(any(self._share(official, words) >= 0.5 for official in officials) for officials in query.synonym_groups)

    def _named_outside_synonyms(self, query: Query, pid: str) -> bool:
        """Whether one of the procedure's names appears in the question outside the citizen phrases that fired."""
        if not query.synonym_groups:
            return True
        names = self._names.get(pid, ())
        padded = [f" {run} " for run in query.segments]
        return (any(f" {phrase} " in run for phrase in names for run in padded)
                or any(official in names for official in query.expansions))

    def _named(self, query: Query, row_id: str) -> float:
        """A bonus when the question contains one of the record's names word for word."""
        return 1.0 + NAMED_BONUS_PER_WORD * min(self._named_words(query, row_id), 6)

    def find(self, text: str, named: Mapping[str, int] | Iterable[str] = (),
             typos: Mapping[str, str] | Iterable[str] = ()) -> Resolution:
        """Which procedure (or FAQ entry) ``text`` is about: sure, ask which, or nothing.

        ``named``: procedures the NLU found named word for word in the text (aliases of the
        hand-written records, the model's entity spans), with the words of the longest name
        found. A named procedure is taken unless the search finds another record named by
        more words ("xóa đăng ký tạm trú" names *tạm trú* by three words and its own record
        by four). ``typos``: procedures found only with a typo ("ho chiue"), with the words
        found, taken when the search finds nothing and those words are most of the question.
        """
        query = self.read(text)
        # A name inside a citizen phrase of the synonym table ("hộ khẩu" in "cắt hộ khẩu") does not count:
        # the table says what that phrase means.
        named = {pid: (named[pid] if isinstance(named, Mapping) else 1)
                 for pid in dict.fromkeys(named) if pid in self.catalogue and self._named_outside_synonyms(query, pid)}
        # A procedure named in a question whose synonyms say something it does not cover ("đổi tên …
        # giấy khai sinh": the synonym points to "thay đổi, cải chính hộ tịch") is not taken on its
        # name alone: the search decides, and it stays among the candidates.
        evidence = {pid: n for pid, n in named.items() if self._covers_synonyms(query, pid)}
        ranked = self._ranked(query, limit=MAX_CANDIDATES + 4)
        procedures = tuple(c for c in ranked if isinstance(c, Candidate))

        def answer(pid: str) -> Resolution:
            return Resolution(procedure=self.catalogue.get(pid), words=query.words, ranked=procedures)

        strong = [c for c in ranked if c.score >= MIN_STRENGTH]
        best = strong[0] if strong else None
        close = [c for c in strong if c.score >= CLOSE_SHARE * best.score] if best else []
        close_ids = [c.procedure.id for c in close]
        if named and not evidence:
            offered = [c.procedure for c in close[:MAX_CANDIDATES - 1]]
            offered += [self.catalogue.get(pid) for pid in named if self.catalogue.get(pid) not in offered]
            if len(offered) == 1 and offered[0].id in named:
                # Named, but the question says something its record does not cover: offer the strong
                # records that do cover it beside it, if there are any.
                # records of its family (its name in theirs), not any record the synonym points to
                runs = [f" {run} " for run in query.segments]
                family = [ph for ph in self._names.get(offered[0].id, ()) if len(ph.split()) >= 2
                          and any(f" {ph} " in run for run in runs)]
                offered += [c.procedure for c in strong if self._covers_synonyms(query, c.procedure.id)
                            and c.procedure not in offered
                            and any(f" {ph} " in f" {self._titles.get(c.procedure.id, '')} " for ph in family)
                            ][:MAX_CANDIDATES - 1]
            if len(offered) == 1:
                return answer(offered[0].id)
            scores = {c.procedure.id: c.score for c in procedures}
            if (best is not None and len(close) == 1
                    and self._raw_coverage(query, best.procedure.id) >= SURE_COVERAGE):
                return answer(best.procedure.id)
            return Resolution(candidates=tuple(Candidate(p, scores.get(p.id, 0.0)) for p in offered[:MAX_CANDIDATES]),
                              words=query.words, ranked=procedures)
        named = evidence
        if named:
            ids = list(named)
            words = max(named.values())
            top = best.procedure.id if best is not None else None
            scores = {c.procedure.id: c.score for c in procedures}
            kept = max((scores.get(pid, 0.0) for pid in ids), default=0.0)
            explains = top is not None and all(self._raw_coverage(query, pid) >= self._raw_coverage(query, top) for pid in ids)
            if (top is None or top in named or (kept >= KEEP_SHARE * best.score and explains)
                    or (self._named_words(query, top) <= words and kept == 0.0 and explains)):
                if len(ids) == 1:
                    siblings = self._specific_siblings(query, ids[0], procedures)
                    if siblings:  # a record more specific to the question's words: ask, don't answer
                        offered = [self.catalogue.get(ids[0]), *siblings][:MAX_CANDIDATES]
                        return Resolution(candidates=tuple(Candidate(p, scores.get(p.id, 0.0)) for p in offered),
                                          words=query.words, ranked=procedures)
                    return answer(ids[0])
                among = [pid for pid in close_ids if pid in named]
                if len(among) == 1:
                    return answer(among[0])
                cands = [Candidate(self.catalogue.get(pid), 0.0) for pid in ids[:MAX_CANDIDATES]]
                return Resolution(candidates=tuple(cands), words=query.words, ranked=procedures)
            # The search finds another record named by more words, or much stronger: take it when it is
            # clearly the one, else ask between it and the procedures named.
            if (len(close) == 1 and self._named_words(query, top) > words
                    and self._raw_coverage(query, top) >= SURE_COVERAGE):
                return answer(top)
            offered = [c.procedure for c in close[:MAX_CANDIDATES - 1]]
            offered += [self.catalogue.get(pid) for pid in ids if self.catalogue.get(pid) not in offered]
            return Resolution(candidates=tuple(Candidate(p, scores.get(p.id, 0.0)) for p in offered[:MAX_CANDIDATES]),
                              words=query.words, ranked=procedures)
        weak = best is not None and self._raw_coverage(query, best.procedure.id) < MIN_COVERAGE
        typos_allowed = best is None  # a typo of a hand-written name counts only when nothing is strong
        if weak:
            best = None  # the best match leaves most of the question out: nothing found
        faq = self.faq_hit(text)
        if faq is not None and (best is None or faq.coverage >= self._raw_coverage(query, best.procedure.id)):
            return Resolution(faq=faq.entry, words=query.words, ranked=procedures)
        if best is None and typos_allowed:
            content = set(query.content_words)
            for pid in dict.fromkeys(typos):
                window = set(fold_phrase(typos[pid]).split()) if isinstance(typos, Mapping) else content
                if pid in self.catalogue and content and len(content & window) / len(content) >= TYPO_COVERAGE:
                    return answer(pid)
        if best is None:
            return Resolution(words=query.words, ranked=procedures)
        close = close[:MAX_CANDIDATES]
        if len(close) == 1 and self._raw_coverage(query, close[0].procedure.id) >= SURE_COVERAGE:
            return answer(close[0].procedure.id)
        if len(close) == 1:  # one match, but it leaves much of the question out: ask, don't answer
            close = [c for c in procedures if c.score >= MIN_STRENGTH][:min(3, MAX_CANDIDATES)]
        base = self._base(query, close)
        if base is not None:
            return answer(base)
        return Resolution(candidates=tuple(close), words=query.words, ranked=procedures)

    def _base(self, query: Query, close: list[Candidate]) -> str | None:
        """The plain member of a family when the close records differ only by what the question does not say.

        "kết hôn với người nước ngoài": "đăng ký kết hôn có yếu tố nước ngoài", "đăng ký lại kết hôn có yếu
        tố nước ngoài" and "… tại khu vực biên giới" are close; the first one's words are in each of the
        others, and the question has none of their extra words ("lại", "biên giới"): a clerk takes the
        first. Only when that record covers every meaningful part of the question ("đổi tên cty" is not
        about "thay đổi, cải chính … hộ tịch" just because the synonym table reads "đổi tên" that way).
        """
        if len(close) < 2:
            return None
        words = {c.procedure.id: set(self._families.get(c.procedure.id, "").split()) for c in close}
        asked = set(" ".join((*query.segments, *query.expansions)).split())
        for c in close:
            mine = words[c.procedure.id]
            others = [w for pid, w in words.items() if pid != c.procedure.id]
            if mine and all(mine < other and not (other - mine) & asked for other in others) \
                    and self._raw_coverage(query, c.procedure.id) >= 1.0:
                return c.procedure.id
        return None


@dataclass(frozen=True)
class FaqHit:
    entry: object
    score: float
    coverage: float = 1.0


# Parts of an official name that only say at which level or through which channel it is done
# (as written, for readable names).
_NAME_NOISE = re.compile(
    r"^\s*\.?\s*Thủ tục\s+|\s*\((?:thực hiện\s+)?(?:tại|ở)\s+cấp[^)]*\)|\s*\(cấp [^)]*\)"
    r"|\s*(?:thực hiện\s+)?bằng dịch vụ công trực tuyến (?:toàn trình|một phần)(?: hoặc trực tiếp)?"
    r"|\s*trực tuyến toàn trình|\s*thực hiện (?:tại|ở) cấp (?:trung ương|tỉnh|xã|huyện)(?:, cấp (?:tỉnh|xã))*",
    re.IGNORECASE)
READABLE_NAME_CHARS = 70


def readable_name(procedure: "Procedure", limit: int = READABLE_NAME_CHARS) -> str:
    """A short readable name for buttons: the hand-written short name, or the official name
    without "Thủ tục" and level/channel qualifiers, cut at a word boundary."""
    if procedure.aliases:  # hand-written records have aliases and a short name in citizens' words
        name = procedure.short_name
    else:
        name = " ".join(_NAME_NOISE.sub(" ", procedure.name).split()).strip(" .;,") or procedure.name
    name = name[:1].upper() + name[1:]
    if len(name) <= limit:
        return name
    cut = name[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;(")
    return cut + "…"


def readable_names(procedures: Iterable["Procedure"], limit: int = READABLE_NAME_CHARS) -> list[str]:
    """``readable_name`` of each procedure; names that would read the same show what differs
    instead ("…lần đầu đối với tổ chức đang sử dụng đất")."""
    procedures = list(procedures)
    names = [readable_name(p, limit) for p in procedures]
    for i, name in enumerate(names):
        same = [j for j, other in enumerate(names) if other == name]
        if len(same) < 2:
            continue
        full = [" ".join(_NAME_NOISE.sub(" ", procedures[j].name).split()) for j in same]
        words = [f.split() for f in full]
        common = 0
        while all(len(w) > common for w in words) and len({w[common] for w in words}) == 1:
            common += 1
        for j, w in zip(same, words):
            tail = " ".join(w[max(0, common - 2):])
            names[j] = "…" + (tail if len(tail) < limit else tail[:limit - 2].rsplit(" ", 1)[0] + "…")
    return names


# The stop words as written with diacritics: a word whose folded form is a stop word but that
# was written otherwise ("chó" → "cho", "đất" → "dat") keeps its meaning.
STOPWORDS_WRITTEN = frozenset("""
    a à ạ ah ai anh bao bị cái cần cho chỉ chính có của đã dân đâu để đến đi đó được em gì giờ giúp giấy
    hành hỏi hôm hướng khi không là làm lâu lệ mình muốn nào này nếu nhé nhiều như những nộp ở ơi phải
    phí qua ra rồi sẽ thế thì thủ tờ tôi tục tại và vậy về việc với xin ad admin ah chừng đây hả hay kìa
    mới sao xong ak ok dùm trên mục xài biết kiểu giá
""".split())


def _protected_words(text: str) -> frozenset[str]:
    """Folded words that look like stop words but were written with other diacritics."""
    from bot.vntext import fold, nfc

    # Only words typed with diacritics tell ("o" may be "ở" or "ô"; "chó" is not "cho").
    written = re.findall(r"\w+", nfc(text).lower())
    return frozenset(fold(w) for w in written
                     if fold(w) != w and fold(w) in STOPWORDS and w not in STOPWORDS_WRITTEN)


def _meaningful(word: str, protected: frozenset[str]) -> bool:
    return word not in STOPWORDS or word in protected


def family_key(name: str) -> str:
    """The folded name without what only says at which level or through which channel it is done."""
    from bot.vntext import fold

    return " ".join(re.findall(r"\w+", _FAMILY_NOISE.sub(" ", fold(name))))


def prior(procedure: "Procedure", catalogue: "Catalogue") -> float:
    """How likely a citizen's question is about ``procedure``, before reading it (≤ 1)."""
    if not catalogue.is_imported(procedure.id):
        return 1.0
    value = 1.0
    if set(procedure.level) == {"bo"}:
        value *= MINISTRY_ONLY
    subjects = fold_phrase(procedure.subjects)
    if subjects and not re.search(r"cong dan|ca nhan|nguoi viet nam|nguoi dan|ho gia dinh", subjects):
        value *= ENTERPRISE_ONLY
    if _DISTRICT_NAME.search(fold_phrase(procedure.name)):
        value *= DISTRICT_LEVEL
    return value


def _default_faq() -> tuple:
    """The entries of procedures/faq.yml (none when the file is absent)."""
    from procedures import faq

    return tuple(faq.default_faq()) if faq.DEFAULT_PATH.exists() else ()


@lru_cache(maxsize=1)
def default_synonyms() -> tuple[Synonym, ...]:
    return load_synonyms()

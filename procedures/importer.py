"""Import of the national database of administrative procedures (CSDL quốc gia về TTHC).

    from procedures.importer import import_records, write_catalogue, read_catalogue
    result = import_records(["procedures/national/national-2026-07.jsonl.gz"])
    result.records["1.001456"].procedure.channel("truc_tiep").fee_vnd     # 200000
    result.flags["1.001456"]          # ["expired_fee_note:channels", ...]
    result.problems["channels"]       # {code: what could not be parsed, kept as text}
    write_catalogue(result, "procedures/national/catalogue.jsonl.gz")

Two input formats, recognised per record:

- *rendered*: one JSON object a line (``.jsonl`` or ``.jsonl.gz``) with the portal's
  sections as text, taken from rendered pages (``ma_thu_tuc``, ``ten_thu_tuc``,
  ``cach_thuc_thuc_hien``, …). Table cells run together ("Trực tuyến8 Ngày làm
  việc160,000 Việt Nam Đồng(…)"); the parsers below split them again.
- *portal*: the structured JSON of the portal's procedure-detail API (``code``,
  ``executionMethods``, ``executionCases[].profileComponents``, ``legalBasisesDetails``…),
  one record per ``.json`` file or a list of records.

Every record becomes a ``procedures.model.Procedure`` (id ``tthc-<code>``) plus what
the import knows about it (``ImportedRecord``): quality ``flags`` ("district_level:steps",
"expired_fee_note:channels", "no_agency", "no_papers", …) and ``problems``: per field,
the text that could not be parsed. Unparsed text is never dropped: it stays in the
record where the model has room for it (a legal document without a number, a paper
group kept whole) and always in ``problems``. "Không có thông tin" means empty.

The output (``write_catalogue``) is one JSON object a line, sorted by code, gzip'ed
without a timestamp: importing the same files twice gives the same bytes, and
``compare`` lists what a newer import added, removed or changed, per field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from procedures.model import (
    LEVELS,
    METHODS,
    ONLINE_MODES,
    UNVERIFIABLE_FIELDS,
    Channel,
    LegalDoc,
    Paper,
    PaperGroup,
    Procedure,
    Source,
    Submit,
)

PACKAGE_DIR = Path(__file__).resolve().parent
NATIONAL_DIR = PACKAGE_DIR / "national"
DEFAULT_SOURCE = NATIONAL_DIR / "national-2026-07.jsonl.gz"
DEFAULT_CATALOGUE = NATIONAL_DIR / "catalogue.jsonl.gz"

SOURCE_TITLE = "Cơ sở dữ liệu quốc gia về thủ tục hành chính"
PORTAL_URL = "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/{id}"
NO_INFO = "Không có thông tin"
DEFAULT_CASE = "Thành phần hồ sơ"
ID_PREFIX = "tthc-"
SHORT_NAME_MAX = 60

# Procedure fields, as they are named in problems, flags and changes.
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(Procedure))
# Which ``unverified`` entry a problem in a field makes.
_UNVERIFIED_FOR = {"code": "code", "agency": "agency", "level": "level", "fee": "fee", "duration": "duration",
                   "papers": "papers", "legal_basis": "legal_basis", "steps": "steps", "submit": "submit"}

# Flags (``kind`` or ``kind:field``).
FLAG_DISTRICT = "district_level"        # mentions the district level abolished on 1 July 2025
FLAG_EXPIRED_FEE = "expired_fee_note"   # a fee note whose validity ended before the source date
FLAG_NO_AGENCY = "no_agency"            # neither executing agency nor competent authority
FLAG_AGENCY_FROM_AUTHORITY = "agency_from_authority"  # no executing agency; the competent authority is shown
FLAG_NO_PAPERS = "no_papers"
FLAG_OTHER_BODY = "other_body_level"    # "Cơ quan khác" among the levels (no level of the model)
FLAG_DESCRIPTIONS = {
    FLAG_DISTRICT: "nhắc đến cấp huyện (đã bỏ từ 01/7/2025)",
    FLAG_EXPIRED_FEE: "ghi chú phí, lệ phí đã hết thời hạn áp dụng",
    FLAG_NO_AGENCY: "không có cơ quan thực hiện",
    FLAG_AGENCY_FROM_AUTHORITY: "không ghi cơ quan thực hiện; hiển thị cơ quan có thẩm quyền",
    FLAG_NO_PAPERS: "không có thành phần hồ sơ",
    FLAG_OTHER_BODY: "cấp thực hiện gồm \"Cơ quan khác\"",
}


class ImportFailure(ValueError):
    """A file that cannot be imported at all (unreadable, not JSON, unknown record format)."""


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedRecord:
    """One imported procedure and what the import knows about it."""

    procedure: Procedure
    flags: tuple[str, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()  # (field, text that could not be parsed or what was assumed)
    origin: str = ""  # the file it came from (name only)
    format: str = ""  # "rendered" or "portal"

    @property
    def code(self) -> str:
        return self.procedure.code or ""

    def has_flag(self, kind: str, field_name: str | None = None) -> bool:
        """Whether the record has flag ``kind`` (for ``field_name`` when given)."""
        wanted = kind if field_name is None else f"{kind}:{field_name}"
        return any(f == wanted or (field_name is None and f.startswith(kind + ":")) for f in self.flags)


@dataclass
class Changes:
    """What an import changed compared with the previous catalogue."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # code -> fields that differ

    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def by_field(self) -> dict[str, list[str]]:
        """Field -> codes whose field changed."""
        result: dict[str, list[str]] = {}
        for code, fields in sorted(self.changed.items()):
            for name in fields:
                result.setdefault(name, []).append(code)
        return dict(sorted(result.items()))


@dataclass
class SourceFile:
    path: str
    records: int
    checked_on: dt.date | None


@dataclass
class ImportResult:
    """The records of one import, by code (sorted), with their flags and problems."""

    records: dict[str, ImportedRecord]
    sources: list[SourceFile] = field(default_factory=list)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # (code, kept from, replaced from)
    changes: Changes | None = None

    @property
    def flags(self) -> dict[str, list[str]]:
        """Code -> flags, for the records that have any."""
        return {code: list(r.flags) for code, r in self.records.items() if r.flags}

    @property
    def problems(self) -> dict[str, dict[str, str]]:
        """Field -> {code: the text that could not be parsed}, fields sorted."""
        result: dict[str, dict[str, str]] = {}
        for code, record in self.records.items():
            for name, text in record.problems:
                entry = result.setdefault(name, {})
                entry[code] = f"{entry[code]} | {text}" if code in entry else text
        return dict(sorted(result.items()))

    def flag_index(self) -> dict[str, list[str]]:
        """Flag -> codes that have it."""
        return _flag_index(self.records.values())

    def procedures(self) -> list[Procedure]:
        return [r.procedure for r in self.records.values()]

    def get(self, code: str) -> Procedure | None:
        record = self.records.get(code)
        return record.procedure if record else None


def _flag_index(records: Iterable[ImportedRecord]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for record in records:
        for flag in record.flags:
            index.setdefault(flag, []).append(record.code)
    return dict(sorted(index.items()))


# --- entry points -----------------------------------------------------------------------------

def import_records(paths: Iterable[str | Path], *, previous: "str | Path | ImportResult | Mapping | None" = None,
                   checked_on: dt.date | None = None) -> ImportResult:
    """Read every file in ``paths`` (both formats) and build the records.

    A code met twice keeps the record read last (listed in ``duplicates``). ``checked_on``
    overrides the source date; otherwise it is taken from the file name
    ("national-2026-07" → 2026-07-01) or, for portal records, from their ``updatedAt``.
    With ``previous`` (a catalogue file, an ``ImportResult`` or code → ``ImportedRecord``),
    ``changes`` lists what this import added, removed and changed.
    """
    records: dict[str, ImportedRecord] = {}
    sources: list[SourceFile] = []
    duplicates: list[tuple[str, str, str]] = []
    for path in paths:
        path = Path(path)
        file_date = checked_on or date_from_name(path.name)
        count = 0
        for raw in read_raw(path):
            record = parse_record(raw, checked_on=file_date, origin=path.name)
            count += 1
            if record.code in records:
                duplicates.append((record.code, path.name, records[record.code].origin))
            records[record.code] = record
        sources.append(SourceFile(str(path), count, file_date))
    result = ImportResult(distinct_short_names(dict(sorted(records.items()))), sources, duplicates)
    if previous is not None:
        result.changes = compare(_as_records(previous), result.records)
    return result


def import_texts(raws: Iterable[Mapping[str, Any]], *, checked_on: dt.date, origin: str = "") -> ImportResult:
    """Like ``import_records`` for records already read (rendered or portal dicts)."""
    records = {}
    for raw in raws:
        record = parse_record(raw, checked_on=checked_on, origin=origin)
        records[record.code] = record
    return ImportResult(distinct_short_names(dict(sorted(records.items()))))


def read_raw(path: Path) -> Iterator[dict]:
    """The raw records of one file: JSON lines (optionally gzip'ed) or a JSON file (a record or a list)."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ImportFailure(f"{path}: cannot read: {error}") from None
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".jsonl"):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield _json(line, f"{path}:{number}")
        return
    data = _json(text, str(path))
    if isinstance(data, dict) and "data" in data and not _record_format(data):
        data = data["data"]  # an API envelope {"data": …}
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            raise ImportFailure(f"{path}: expected a JSON object or a list of objects")
        yield item


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFailure(f"{where}: invalid JSON: {error}") from None


def date_from_name(name: str) -> dt.date | None:
    """The date in a file name: "…2026-07-15…" → 2026-07-15, "…2026-07…" → 2026-07-01."""
    match = re.search(r"(20\d\d)-(\d\d)(?:-(\d\d))?(?!\d)", name)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3) or 1))
    except ValueError:
        return None


def _record_format(raw: Mapping[str, Any]) -> str | None:
    if "ma_thu_tuc" in raw:
        return "rendered"
    if "code" in raw and ("executionMethods" in raw or "executionCases" in raw):
        return "portal"
    return None


def parse_record(raw: Mapping[str, Any], *, checked_on: dt.date | None, origin: str = "") -> ImportedRecord:
    """One raw record (either format) → ``ImportedRecord``."""
    kind = _record_format(raw)
    if kind == "rendered":
        fields = _rendered_fields(raw)
    elif kind == "portal":
        fields = _portal_fields(raw)
    else:
        raise ImportFailure(f"{origin}: a record in an unknown format (keys: {', '.join(sorted(raw)[:8])}…)")
    date = checked_on or fields.pop("updated", None)
    fields.pop("updated", None)
    if date is None:
        raise ImportFailure(f"{origin}: record {fields['code']}: no source date (name the file …YYYY-MM… or "
                            "pass checked_on)")
    return _build(fields, date, origin, kind)


# --- text cleaning ----------------------------------------------------------------------------

_INVISIBLE_RE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\ufeff\u00ad]")
_SPACE_RE = re.compile(r"[ \t\u00a0\u2002-\u200a\u3000]+")
_LOWER = "a-zàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
_UPPER = "A-ZÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ"
# "thay.Mẫu" → "thay. Mẫu": a sentence that runs into the next one (after a lower-case word).
_RUN_ON_RE = re.compile(rf"(?<=[{_LOWER})])([.;:])(?=[{_UPPER}])")


def clean(text: Any, *, keep_lines: bool = False) -> str:
    """NFC, invisible characters removed, spaces collapsed, "Không có thông tin" → ""."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFC", str(text))
    text = _INVISIBLE_RE.sub("", text).replace("\\t", " ").replace("\r\n", "\n").replace("\r", "\n")
    text = _RUN_ON_RE.sub(r"\1 ", text)
    if keep_lines:
        lines = [_SPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
        text = "\n".join(line for line in lines if line)
    else:
        text = " ".join(_SPACE_RE.sub(" ", text).split())
    return "" if _is_empty(text) else text


def _is_empty(text: str) -> bool:
    return text.strip(" .-") in ("", NO_INFO, "Không có", "Không quy định", "Không")


# --- rendered format: section parsers -----------------------------------------------------------

_LEVEL_NAMES = {"cấp bộ": "bo", "cấp tỉnh": "tinh", "cấp xã": "xa"}


def parse_levels(text: str) -> tuple[tuple[str, ...], list[str], bool]:
    """"Cấp bộ, Cấp tỉnh" → (("bo", "tinh"), unknown parts, whether "Cơ quan khác" is listed)."""
    levels, unknown, other = [], [], False
    for part in (p.strip() for p in clean(text).split(",")):
        if not part:
            continue
        level = _LEVEL_NAMES.get(part.lower())
        if level:
            if level not in levels:
                levels.append(level)
        elif part.lower() == "cơ quan khác":
            other = True
        else:
            unknown.append(part)
    return tuple(levels), unknown, other


# Steps -------------------------------------------------------------------------------------------

_STEP_RE = re.compile(r"^(?:[-+*•]\s*|[a-zđ]\)\s*|\d+[.)]\s*)?Bước\s*(?:\d+|[IVX]+|một|hai|ba)\b", re.IGNORECASE)
_INLINE_STEP_RE = re.compile(r"(?<=[.;:])\s+(?=Bước\s*\d+\s*[.:])")


def split_steps(text: str) -> tuple[str, ...]:
    """The steps of Trình tự thực hiện.

    With "Bước N" headings, each heading starts a step and the lines below it belong to
    it; without, each line is a step (a line starting in lower case continues the one above).
    """
    text = clean(text, keep_lines=True)
    if not text:
        return ()
    lines = []
    for line in text.split("\n"):
        lines.extend(part.strip() for part in _INLINE_STEP_RE.split(line) if part.strip())
    steps: list[str] = []
    if sum(1 for line in lines if _STEP_RE.match(line)) >= 2:
        for line in lines:
            if _STEP_RE.match(line) or not steps:
                steps.append(line)
            else:
                steps[-1] += "\n" + line
        return tuple(steps)
    for line in lines:
        if steps and line[:1].islower():
            steps[-1] += " " + line
        else:
            steps.append(line)
    return tuple(steps)


# Channels (Cách thức thực hiện) ------------------------------------------------------------------

_CHANNEL_HEADER = "Hình thức nộpThời gianPhí, lệ phíMô tả"
_METHOD_NAMES = {"Trực tuyến": "truc_tuyen", "Dịch vụ bưu chính": "buu_chinh", "Trực tiếp": "truc_tiep"}
_ROW_RE = re.compile(r"(Trực tuyến|Dịch vụ bưu chính|Trực tiếp)(?=\d|Không)")
_TIME_UNITS = {"ngày làm việc": "ngày làm việc", "ngày": "ngày", "giờ": "giờ", "tháng": "tháng", "năm": "năm",
               "tuần": "tuần", "phút": "phút", "giờ làm việc": "giờ làm việc"}
_TIME_RE = re.compile(r"(\d+(?:[.,]\d+)?)\s?(Ngày làm việc|Giờ làm việc|Ngày|Giờ|Tháng|Năm|Tuần|Phút)(?![a-zà-ỹ])")
_CURRENCIES = {"Việt Nam Đồng": "VND", "VNĐ": "VND", "Đồng": "VND", "đồng": "VND", "USD": "USD", "EUR": "EUR"}
_AMOUNT_RE = re.compile(r"(\d[\d,.]*) ?(Việt Nam Đồng|VNĐ|Đồng|USD|EUR)")
_FEE_FREE = "Miễn phí"
_VALID_AMOUNT_RE = re.compile(r"^(?:0|[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*)$")
_PROVINCE_FEE_RE = re.compile(r"Hội đồng nhân dân|HĐND|do (?:Ủy ban nhân dân|UBND) (?:cấp )?tỉnh", re.IGNORECASE)
# A note that confirms "Miễn phí" ("Miễn lệ phí …", "Không thu …", "Không có").
_FREE_NOTE_RE = re.compile(r"^[\s\-+*(]*(?:miễn|không thu|không có|không phải|không quy định|không\b|chưa quy định)",
                           re.IGNORECASE)
_WORKING_DAYS_RE = re.compile(r"(\d+)\s*(?:\([^)]{1,20}\)\s*)?ngày làm việc", re.IGNORECASE)


@dataclass
class _Row:
    method: str
    duration: str
    working_days: int | None
    fee: str
    fee_vnd: int | None
    description: str
    problems: list[tuple[str, str]]


def parse_channels(text: str) -> tuple[list[_Row], list[tuple[str, str]]]:
    """Cách thức thực hiện (rendered) → rows, and (field, problem) pairs."""
    text = unicodedata.normalize("NFC", text or "")
    problems: list[tuple[str, str]] = []
    if _is_empty(clean(text)):
        return [], []
    body = text[len(_CHANNEL_HEADER):] if text.startswith(_CHANNEL_HEADER) else text
    if not text.startswith(_CHANNEL_HEADER):
        problems.append(("channels", "no table header, read as rows: " + clean(text)[:300]))
    starts = list(_ROW_RE.finditer(body))
    if not starts:
        return [], [("channels", "no submission method found, text kept: " + clean(body))]
    if starts[0].start() > 0 and clean(body[:starts[0].start()]):
        problems.append(("channels", "text before the first method: " + clean(body[:starts[0].start()])))
    rows = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(body)
        rows.append(_parse_row(_METHOD_NAMES[match.group(1)], body[match.end():end]))
    return rows, problems


def _parse_row(method: str, row: str) -> _Row:
    """"8 Ngày làm việc160,000 Việt Nam Đồng(note)description" → a row."""
    problems: list[tuple[str, str]] = []
    rest = row
    unit_time = _TIME_RE.match(rest)
    bare: str | None = None
    if unit_time:
        number, unit = unit_time.group(1), unit_time.group(2).lower()
        duration = f"{number} {_TIME_UNITS[unit]}"
        working_days = _int(number) if unit == "ngày làm việc" else None
        rest = rest[unit_time.end():]
    elif rest.startswith(NO_INFO):
        duration, working_days, rest = "", None, rest[len(NO_INFO):]
    elif re.match(r"\d", rest):
        digits = re.match(r"[\d,.]+", rest).group()
        bare, rest = _split_bare_time(digits, rest)
        duration, working_days = bare, None
    else:  # free text up to the fee ("Không phải trả kết quả …Miễn phí", "Không quy định…")
        fee_at = _first_fee_position(rest)
        duration, rest = clean(rest[:fee_at]), rest[fee_at:]
        working_days = None
        problems.append(("duration", f"time limit is text: {METHOD_LABEL[method]} {duration!r}"))
    fees, rest = _parse_fees(rest)
    description = clean(rest.strip(" \t\n"), keep_lines=False)
    if bare is not None:  # a number without unit: the description may say "N ngày làm việc"
        stated = [int(n) for n in _WORKING_DAYS_RE.findall(description)]
        if stated and _int(bare) in stated:
            duration, working_days = f"{bare} ngày làm việc", _int(bare)
        else:
            duration = f"{bare} (không ghi đơn vị)"
            problems.append(("duration", f"time limit without a unit: {METHOD_LABEL[method]} {bare!r}"))
    if not duration:
        duration = NO_INFO
    fee_text, fee_vnd, fee_problems = _fee_summary(fees, method)
    problems += fee_problems
    return _Row(method, duration, working_days, fee_text, fee_vnd, description, problems)


METHOD_LABEL = {"truc_tiep": "trực tiếp", "truc_tuyen": "trực tuyến", "buu_chinh": "bưu chính"}


def _split_bare_time(digits: str, rest: str) -> tuple[str, str]:
    """A time limit without unit glued to an amount ("120,000 VNĐ" = 1 + 20,000): split it.

    The amount is a well-formed number ("20,000", not "0,000"); the split whose amount the
    fee note repeats ("20.000 vnđ") wins, else the shortest time limit.
    """
    after = rest[len(digits):]
    amount_follows = re.match(r" ?(Việt Nam Đồng|VNĐ|Đồng|USD|EUR)", after)
    if not amount_follows or len(digits) < 2:
        return digits.rstrip(".,"), after
    options = [k for k in range(1, len(digits)) if digits[:k].isdigit() and _VALID_AMOUNT_RE.match(digits[k:])]
    if not options:
        return digits, after
    note = _balanced(after[amount_follows.end():]) or ""
    for k in options:
        amount = int(digits[k:].replace(",", ""))
        if _mentions_amount(note, amount) or (amount < 1000 and _mentions_amount(note, amount * 1000)):
            return digits[:k], rest[k:]
    return digits[:options[0]], rest[options[0]:]


def _mentions_amount(text: str, amount: int) -> bool:
    if amount <= 0:
        return False
    forms = {f"{amount:,}", f"{amount:,}".replace(",", "."), str(amount)}
    return any(re.search(rf"(?<![\d.,]){re.escape(f)}(?![\d]|[.,]\d)", text) for f in forms)


def _first_fee_position(text: str) -> int:
    positions = [p for p in (text.find(_FEE_FREE), text.find(NO_INFO)) if p >= 0]
    amount = _AMOUNT_RE.search(text)
    if amount:
        positions.append(amount.start())
    return min(positions) if positions else len(text)


@dataclass
class _Fee:
    amount: int | None  # None for "Miễn phí" / no information
    currency: str  # "VND", "USD", "" (free), "?" (no information)
    note: str
    raw: str


def _parse_fees(text: str) -> tuple[list[_Fee], str]:
    """Fee cells at the start of ``text`` (each optionally followed by "(note)"); the rest is the description."""
    fees: list[_Fee] = []
    while True:
        stripped = text.lstrip()
        if stripped.startswith(_FEE_FREE):
            start, amount, currency = len(_FEE_FREE), 0, ""
        elif stripped.startswith(NO_INFO):
            start, amount, currency = len(NO_INFO), None, "?"
        else:
            match = _AMOUNT_RE.match(stripped)
            if not match or not _VALID_AMOUNT_RE.match(match.group(1)):
                return fees, text
            start, amount, currency = match.end(), int(match.group(1).replace(",", "")), _CURRENCIES[match.group(2)]
        note = ""
        after = stripped[start:]
        if after.startswith("("):
            note = _balanced(after) or ""
            after = after[len(note) + 2:] if note or after.startswith("()") else after
        fees.append(_Fee(amount, currency, clean(note), stripped[:len(stripped) - len(after)]))
        text = after
        if currency == "?" and not fees[:-1]:  # "Không có thông tin" ends the fee cell
            return fees, text


def _balanced(text: str) -> str | None:
    """The content of the parenthesis that ``text`` starts with (nesting respected); None if unclosed."""
    if not text.startswith("("):
        return None
    depth = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[1:i]
    return None


def _unwrap(note: str) -> str:
    """"(text)" → "text"; an unclosed "(" at the start is dropped too."""
    note = note.strip()
    while note.startswith("(") and (_balanced(note) == note[1:-1] or note.count("(") > note.count(")")):
        note = note[1:-1].strip() if _balanced(note) == note[1:-1] else note[1:].strip()
    return note


def format_vnd(amount: int) -> str:
    """200000 → "200.000 đồng"."""
    return f"{amount:,}".replace(",", ".") + " đồng"


def _fee_summary(fees: list[_Fee], method: str) -> tuple[str, int | None, list[tuple[str, str]]]:
    """The fee as a citizen reads it, the main amount in đồng (or None) and problems."""
    problems: list[tuple[str, str]] = []
    label = METHOD_LABEL[method]
    if not fees:
        return NO_INFO, None, [("fee", f"no fee cell: {label}")]
    texts, amounts = [], []
    for fee in fees:
        note = _unwrap(fee.note)
        if fee.currency == "?":
            texts.append(NO_INFO)
            amounts.append(None)
            continue
        if fee.amount == 0:
            if not note or _FREE_NOTE_RE.match(note):
                texts.append(_FEE_FREE + (f" ({note})" if note else ""))
                amounts.append(0)
            elif _PROVINCE_FEE_RE.search(note):
                texts.append(note)
                amounts.append(None)  # set by the province
            else:  # the portal shows 0 ("Miễn phí") but its note speaks of a fee: keep the note only
                texts.append(note)
                amounts.append(None)
                problems.append(("fee", f"amount 0 with a note about a fee, no amount taken: {label}"))
            continue
        if fee.currency != "VND":
            texts.append(f"{fee.amount:,} {fee.currency}".replace(",", ".") + (f" ({note})" if note else ""))
            amounts.append(None)
            problems.append(("fee", f"amount in {fee.currency}, none in đồng: {label}"))
            continue
        amount = fee.amount
        if amount < 1000:  # "20 VNĐ" with a note "20.000 vnđ": the portal counts in thousands
            if _mentions_amount(note, amount * 1000):
                problems.append(("fee", f"amount below 1.000 đồng read in thousands as its note says: {label} "
                                        f"{fee.raw.strip()!r} → {format_vnd(amount * 1000)}"))
                amount *= 1000
            else:
                texts.append(f"{amount} đồng" + (f" ({note})" if note else ""))
                amounts.append(None)
                problems.append(("fee", f"amount below 1.000 đồng, unit unclear: {label} {fee.raw.strip()!r}"))
                continue
        texts.append(format_vnd(amount) + (f" ({note})" if note else ""))
        amounts.append(amount)
    distinct = {a for a in amounts}
    fee_vnd = amounts[0] if len(distinct) == 1 else None
    return "; ".join(texts), fee_vnd, problems


def _int(number: str) -> int | None:
    try:
        return int(number)
    except ValueError:
        return None


def merge_rows(rows: list[_Row]) -> tuple[tuple[Channel, ...], list[tuple[str, str]]]:
    """One channel per method (rows of the same method are joined; amounts that differ give None)."""
    by_method: dict[str, list[_Row]] = {}
    problems: list[tuple[str, str]] = []
    for row in rows:
        by_method.setdefault(row.method, []).append(row)
        problems += row.problems
    channels = []
    for method in ("truc_tiep", "truc_tuyen", "buu_chinh"):
        group = by_method.get(method)
        if not group:
            continue
        durations = _distinct(r.duration for r in group)
        fees = _distinct(r.fee for r in group)
        days = {r.working_days for r in group}
        amounts = {r.fee_vnd for r in group}
        descriptions = _distinct(r.description for r in group if r.description)
        channels.append(Channel(
            method=method,
            duration="; ".join(durations),
            working_days=days.pop() if len(days) == 1 else None,
            fee="; ".join(fees),
            fee_vnd=amounts.pop() if len(amounts) == 1 else None,
            description="\n".join(descriptions),
        ))
    return tuple(channels), problems


def _distinct(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


# Papers (Thành phần hồ sơ) -------------------------------------------------------------------------

_PAPER_HEADER = "Tên giấy tờMẫu đơn, tờ khaiSố lượng"
# A quantity cell: "1 bản chính", "0 bản chính,1 bản sao", "1 bản sao" (one digit, see _cells).
_QUANTITY_RE = re.compile(r"(\d+) bản chính(?:,(\d+) bản sao)?|(\d+) bản sao")
_FILE_RE = re.compile(r"\.(?:docx?|pdf|xlsx?|rtf|odt|zip|rar|png|jpe?g)$", re.IGNORECASE)
_FILE_EXT_RE = re.compile(r"(?i:\.(?:docx?|pdf|xlsx?|rtf|odt|zip|rar|png|jpe?g))(?![a-z])")
_FORM_CODE_RE = re.compile(
    r"\b(?:mẫu|mau)(?:\s+đơn|\s+tờ khai)?\s*(?:số\s*)?[:.]?\s*"
    r"([A-ZĐ]{1,5}\s?\d+[a-z]?|\d+[a-z]?(?:[./][A-ZĐ]{1,6}\d*)?)(?!\w)",
    re.IGNORECASE)


@dataclass
class _Cell:
    start: int
    end: int
    originals: int
    copies: int


def _cells(segment: str) -> list[_Cell]:
    """The quantity cells of one table segment, in order.

    A cell is rendered from two small integers, so it has one digit: "…năm 20231 bản chính"
    is "…năm 2023" + "1 bản chính". A two-digit number starting with 0 ("01 bản chính")
    and a quantity followed by a space and a lower-case word ("02 bản chính tờ khai")
    belong to the paper's text.
    """
    cells = []
    for match in _QUANTITY_RE.finditer(segment):
        digits = match.group(1) or match.group(3)
        start = match.start()
        follows = segment[match.end():match.end() + 2]
        if re.match(rf" [{_LOWER}]", follows):
            continue
        before = segment[start - 1] if start else ""
        if len(digits) == 2 and digits[0] == "0":
            continue
        if len(digits) >= 2:  # glued to a number of the paper's text: the last digit is the cell
            start += len(digits) - 1
            digits = digits[-1]
        elif before == " " and segment[max(0, start - 2):start - 1].isdigit():
            continue
        if match.group(3):
            originals, copies = 0, int(digits)
        else:
            originals = int(digits)
            copies = int(match.group(2)[-1]) if match.group(2) else 0
        cells.append(_Cell(start, match.end(), originals, copies))
    return cells


def parse_papers(text: str) -> tuple[tuple[PaperGroup, ...], list[tuple[str, str]]]:
    """Thành phần hồ sơ (rendered) → paper groups by case, and problems."""
    text = unicodedata.normalize("NFC", text or "")
    if _is_empty(clean(text)):
        return (), []
    parts = text.split(_PAPER_HEADER)
    if len(parts) == 1:
        whole = clean(text, keep_lines=True)
        return ((PaperGroup(DEFAULT_CASE, (Paper(whole, 0, 0, None, "Chưa tách được thành từng giấy tờ."),)),),
                [("papers", "no paper table, kept whole: " + whole[:300])])
    problems: list[tuple[str, str]] = []
    groups: list[PaperGroup] = []
    heading = _case_name(parts[0])
    for index, segment in enumerate(parts[1:], 1):
        last = index == len(parts) - 1
        cells = _cells(segment)
        items: list[Paper] = []
        position = 0
        for cell in cells:
            paper, paper_problem = _paper(segment[position:cell.start], cell)
            position = cell.end
            if paper is None:
                problems.append(("papers", paper_problem))
                continue
            items.append(paper)
        tail = segment[position:]
        if groups and not items and not _case_name(heading) and not clean(tail):
            continue
        if last:
            if clean(tail):
                problems.append(("papers", "text after the last paper: " + clean(tail)[:300]))
                items.append(Paper(clean(tail), 0, 0, None, "Chưa tách được số lượng."))
            next_heading = ""
        else:
            next_heading = tail
        if items or clean(heading):
            groups.append(PaperGroup(_case_name(heading) or DEFAULT_CASE, tuple(items)))
            if not items:
                problems.append(("papers", f"case without papers: {_case_name(heading)[:120]}"))
        heading = next_heading
    return tuple(groups), problems


def _case_name(text: str) -> str:
    name = clean(text)
    return "" if name.strip("-* ") == "" else name


def _paper(text: str, cell: _Cell) -> tuple[Paper | None, str]:
    """One row: the paper's name, optionally followed by the form's file name(s)."""
    raw = unicodedata.normalize("NFC", text)
    name, files = _split_files(raw)
    name = clean(name)
    if not name and files:
        name, files = files[0], files[1:]
    if not name:
        return None, f"a quantity without a paper name: {cell.originals} bản chính, {cell.copies} bản sao"
    form = _form_code(name, files)
    note = ("Mẫu đơn, tờ khai: " + "; ".join(files) + ".") if files else ""
    return Paper(name, cell.originals, cell.copies, form, note), ""


def _split_files(text: str) -> tuple[str, list[str]]:
    """"…ký thay.Mẫu TK05 báo mất HC.doc" → ("…ký thay.", ["Mẫu TK05 báo mất HC.doc"])."""
    files: list[str] = []
    text = text.rstrip()
    while _FILE_RE.search(text):
        start = _file_start(text)
        files.insert(0, clean(text[start:]))
        text = text[:start].rstrip()
    return text, files


_GLUE_RE = re.compile(rf"(?<=[{_LOWER})\]])(?=[{_UPPER}])|(?<=[{_LOWER}]\.)(?=[{_UPPER}\d])"
                      r"|(?<=\S)(?=(?:Mẫu|Mau|MẪU|MAU|Phụ lục|Phu luc|PL)[\s_\d.-])")


def _file_start(text: str) -> int:
    """Where the file name that ends ``text`` starts.

    After the previous file's extension when files run together ("a.docxb.docx"); else
    the first point after the last sentence boundary where the paper's text runs into the
    file name ("…khoáng sảnMau 05-Phu luc I_37.2025.doc", "…ký thay.Mẫu TK05.doc"); else
    that boundary ("…theo mẫu; Vanbandenghi.docx").
    """
    ext = _FILE_RE.search(text).start()
    head = text[:ext]
    previous = list(_FILE_EXT_RE.finditer(head))
    if previous:
        return previous[-1].end()
    boundaries = [m.end() for m in re.finditer(r"[;:!?]\s*|\.\s+", head)]
    floor = boundaries[-1] if boundaries else 0
    glue = _GLUE_RE.search(head, floor)
    # a glue point counts when text with spaces precedes it ("khoáng sảnMau 35 - …"), not inside
    # a file name without spaces ("; MauThongbaotauroicang.docx")
    start = glue.start() if glue and " " in head[floor:glue.start()].strip() else floor
    while start < len(text) and text[start] == " ":
        start += 1
    return start


def _form_code(name: str, files: list[str]) -> str | None:
    """The form's code ("TK01", "04", "CT01") from the paper's name or its file name."""
    for text in [name, *(_FILE_RE.sub("", f) for f in files)]:
        match = _FORM_CODE_RE.search(text)
        if match:
            return match.group(1).replace(" ", "").rstrip(".,;/-")
    return None


# Legal basis (Căn cứ pháp lý) ----------------------------------------------------------------------

_LEGAL_HEADER = "Tên văn bản pháp lýMã văn bản"
# "QH15" (digits only after QH: the legislature), "NĐ", "TTg" (the one lower-case code)
_CODE_PART = rf"(?:[A-ZĐ]*QH(?:\d\d)?|[A-ZĐ]+(?:g(?![{_LOWER}]))?)"
_NUMBER_RE = re.compile(rf"\d+(?:[.,]\d+)*/(?:\d{{2,4}}/)?{_CODE_PART}(?:-{_CODE_PART})*")
ISSUERS = {
    "QH": "Quốc hội", "UBTVQH": "Ủy ban Thường vụ Quốc hội", "NĐ-CP": "Chính phủ", "NQ-CP": "Chính phủ",
    "QĐ-TTg": "Thủ tướng Chính phủ", "CT-TTg": "Thủ tướng Chính phủ", "BCA": "Bộ Công an",
    "BTP": "Bộ Tư pháp", "BTC": "Bộ Tài chính", "BNNMT": "Bộ Nông nghiệp và Môi trường",
    "BNNPTNT": "Bộ Nông nghiệp và Phát triển nông thôn", "BTNMT": "Bộ Tài nguyên và Môi trường",
    "BXD": "Bộ Xây dựng", "BGTVT": "Bộ Giao thông vận tải", "NHNN": "Ngân hàng Nhà nước Việt Nam",
    "BLĐTBXH": "Bộ Lao động - Thương binh và Xã hội", "BNV": "Bộ Nội vụ", "BYT": "Bộ Y tế",
    "BCT": "Bộ Công Thương", "BKHĐT": "Bộ Kế hoạch và Đầu tư", "BGDĐT": "Bộ Giáo dục và Đào tạo",
    "BTTTT": "Bộ Thông tin và Truyền thông", "BQP": "Bộ Quốc phòng", "BNG": "Bộ Ngoại giao",
    "BKHCN": "Bộ Khoa học và Công nghệ", "BVHTTDL": "Bộ Văn hóa, Thể thao và Du lịch",
    "TANDTC": "Tòa án nhân dân tối cao", "HĐTP": "Hội đồng Thẩm phán Tòa án nhân dân tối cao",
    "VKSNDTC": "Viện kiểm sát nhân dân tối cao", "BHXH": "Bảo hiểm xã hội Việt Nam", "VPQH": "Văn phòng Quốc hội",
}
_YEAR_END_RE = re.compile(r"(?:19|20)\d\d$")
_NUMBER_END_RE = re.compile(rf"{_NUMBER_RE.pattern}$")
# The "Mã văn bản" cell sometimes repeats the kind: "Luật số 32/2024/QH15", "Số 73/2025/TT-NHNN".
_CELL_PREFIX_RE = re.compile(r"(?:(?:Luật|Bộ luật|Thông tư liên tịch|Thông tư|Nghị định|Nghị quyết|Quyết định|Pháp lệnh|"
                             r"Văn bản hợp nhất|Chỉ thị)\s*)?(?:[Ss]ố\s*)$")
_FRAGMENT_TITLE_RE = re.compile(r"^(?:Luật|Bộ luật|Thông tư|Nghị định|Nghị quyết|Quyết định|Pháp lệnh|Văn bản)?\s*"
                                r"(?:[Ss]ố)?\s*[.,;:-]?$")


def parse_legal_basis(text: str) -> tuple[tuple[LegalDoc, ...], list[tuple[str, str]]]:
    """"Tên văn bản pháp lýMã văn bản<title><number><title><number>…" → documents, problems.

    The cells run together and a title often ends with a number too ("Luật 49/2019/QH14"
    + "49/2019/QH14", "…sửa đổi 2023" + "23/2023/QH15"), so the text is segmented into
    (title, number) rows by the best-scoring split (``_segment``), not by the first match.
    """
    text = clean(text)
    if not text:
        return (), []
    problems: list[tuple[str, str]] = []
    if text.startswith(_LEGAL_HEADER):
        text = text[len(_LEGAL_HEADER):]
    else:
        problems.append(("legal_basis", "no table header"))
    rows, tail = _segment(text)
    docs = [legal_doc(number, title.strip() or number) for title, number in rows]
    if tail.strip():
        problems.append(("legal_basis", "a document without a number: " + tail.strip()[:300]))
        docs.append(LegalDoc("", tail.strip(), None, ""))
    return tuple(docs), problems


_MAX_ROWS_BACK = 24  # a row's title is searched among the last candidate row ends only
_MAX_ROW_LENGTH = 1500


def _segment(text: str) -> tuple[list[tuple[str, str]], str]:
    """The best split of ``text`` into (title, number) rows, and a tail without number."""
    candidates: dict[int, list[tuple[int, int]]] = {}  # row end -> [(cell start, number start)]
    for i, char in enumerate(text):
        if not char.isdigit() or (i and text[i - 1].isdigit() and not _split_allowed(text, i)
                                   and _NUMBER_RE.match(text, i) is None):
            continue
        for match in [_NUMBER_RE.match(text, i)]:
            if match is None:
                continue
            for e in _number_ends(text, i, match.end()):
                cells = [(i, i)]
                window = max(0, i - 30)
                prefix = _CELL_PREFIX_RE.search(text[window:i])
                if prefix and window + prefix.start() > 0 and not text[window + prefix.start() - 1].isspace():
                    cells.append((window + prefix.start(), i))
                candidates.setdefault(e, []).extend(cells)
    ends = sorted(candidates)
    best: dict[int, tuple[float, list[tuple[int, int, int]]]] = {0: (0.0, [])}
    for e in ends:
        options = []
        for previous, (score, path) in list(best.items())[-_MAX_ROWS_BACK:]:
            if previous >= e or e - previous > _MAX_ROW_LENGTH:
                continue
            for cell, number_start in candidates[e]:
                if cell <= previous:
                    continue
                options.append((score + _row_score(text, previous, cell, number_start, e),
                                path + [(cell, number_start, e)]))
        if options:
            best[e] = max(options, key=lambda o: o[0])
    finals = [(score - (3.0 if position < len(text) and text[position:].strip() else 0.0), position, path)
              for position, (score, path) in best.items()]
    _, position, path = max(finals, key=lambda f: (f[0], f[1]))
    rows, previous = [], 0
    for cell, number_start, e in path:
        rows.append((text[previous:cell], text[number_start:e]))
        previous = e
    return rows, text[position:]


def _number_ends(text: str, start: int, longest: int) -> list[int]:
    """Every end at which text[start:end] is a whole number ("…/TT-BTC" but also "…/TT-BT" before "C")."""
    ends = []
    for e in range(start + 4, longest + 1):
        if e < longest and not (text[e - 1].isdigit() or text[e].islower()
                                or (text[e].isupper() and text[e + 1:e + 2].islower() and text[e:e + 2] != "Tg")):
            continue  # would cut a code in the middle ("TT-B|TC")
        if _NUMBER_RE.fullmatch(text, start, e):
            ends.append(e)
    return ends


def _split_allowed(text: str, i: int) -> bool:
    """Whether a number may start at ``i`` although a digit precedes it (a year or a number runs into it)."""
    head = text[max(0, i - 40):i]
    return bool(_YEAR_END_RE.search(head) or _NUMBER_END_RE.search(head))


def _quotes(title: str, number: str) -> bool:
    """Whether ``number`` appears in ``title`` as a whole (not inside a longer number or code)."""
    at = title.find(number)
    while at >= 0:
        before = title[at - 1] if at else " "
        after = title[at + len(number):at + len(number) + 1]
        if not (before.isdigit() or before in "/.") and not (after.isalnum() or after == "_"):
            return True
        at = title.find(number, at + 1)
    return False


def _row_score(text: str, previous: int, cell: int, number_start: int, end: int) -> float:
    title = text[previous:cell].strip()
    number = text[number_start:end]
    score = -0.5  # each row must be worth it
    if title and _quotes(title, number):
        score += 2.0  # the title quotes its number
    if number_start and text[number_start - 1] == "/":
        score -= 4.0  # "28/|2023/QH15": a number does not start inside another
    if number_start and text[number_start - 1].isdigit() and not _split_allowed(text, number_start):
        score -= 4.0  # cuts a number in two
    if number.find("/") > 4:
        score -= 2.0
    if not title or (len(title) < 30 and _FRAGMENT_TITLE_RE.match(title)):
        score -= 2.0
    elif title.endswith((" số", " Số")):
        score -= 1.0
    if issuer_of(number):
        score += 1.5  # a known issuer's code ends it ("…/TT-BTP|quy", not "…/TT-BT|Pquy")
    following = text[end:end + 2]
    if not following:
        score += 1.0
    elif following.startswith("Tg") or (text[end - 1].isupper() and following[0].isupper()
                                        and not (len(following) > 1 and following[1].islower())):
        score -= 3.0  # cuts a code ("QĐ-T|Tg", "TT-BT|C ngày")
    elif following[0].isupper() and (text[end - 1].isdigit() or (len(following) > 1 and following[1].islower())):
        score += 1.0  # the next title starts
    elif following[0].isdigit():
        score += 0.5
    elif not following[0].isalpha():
        score -= 1.0  # a number inside a title ("… 23/2015/NĐ-CP về …")
    return score


_DATE_IN_TITLE_RE = re.compile(r"ngày\s+(\d{1,2})\s*(?:/|-|tháng)\s*(\d{1,2})\s*(?:/|-|năm)\s*(\d{4})", re.IGNORECASE)


def legal_doc(number: str, title: str) -> LegalDoc:
    """A legal document with its issuer (from the number's suffix) and its date when the title says it."""
    number, title = clean(number), clean(title)
    issued = None
    where = title.find(number) if number else -1
    match = _DATE_IN_TITLE_RE.search(title, where if where >= 0 else 0)
    if match and (where >= 0 or len(re.findall(r"\d+/\d{4}/", title)) <= 1):
        try:
            issued = dt.date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        except ValueError:
            issued = None
    return LegalDoc(number, title, issued, issuer_of(number))


def issuer_of(number: str) -> str:
    """"49/2019/QH14" → "Quốc hội"; "31/2023/TT-BCA" → "Bộ Công an"; "" when unknown."""
    suffix = number.rsplit("/", 1)[-1]
    if suffix in ISSUERS:
        return ISSUERS[suffix]
    if re.fullmatch(r"QH\d*", suffix):
        return ISSUERS["QH"]
    if re.fullmatch(r"UBTVQH\d*", suffix):
        return ISSUERS["UBTVQH"]
    parts = suffix.split("-")
    for part in reversed(parts[1:]):
        if part in ISSUERS:
            return ISSUERS[part]
        if part.startswith("UBND"):
            return "Ủy ban nhân dân"
    return ""


# Result (Kết quả thực hiện) -----------------------------------------------------------------------

_RESULT_CODE_RE = re.compile(r"Mã:\s*[A-Z]{2}\.[A-Z0-9]+\.\d+")
_RESULT_TAIL = ("Từ khóa", "Chọn cơ quan thực hiện")


def parse_result(text: str) -> str:
    """"<name>Mã: KQ.G01.000083<name>Mã: …Từ khóa…" → "<name>; <name>"."""
    text = unicodedata.normalize("NFC", text or "")
    cut = min([p for p in (text.find(t) for t in _RESULT_TAIL) if p >= 0] or [len(text)])
    names = [clean(part) for part in _RESULT_CODE_RE.split(text[:cut])]
    return "; ".join(_distinct(n for n in names if n))


# --- record assembly --------------------------------------------------------------------------

def _rendered_fields(raw: Mapping[str, Any]) -> dict:
    code = clean(raw.get("ma_thu_tuc"))
    problems: list[tuple[str, str]] = []
    levels, unknown, other = parse_levels(raw.get("cap_thuc_hien", ""))
    if unknown:
        problems.append(("level", "unknown level: " + ", ".join(unknown)))
    rows, channel_problems = parse_channels(raw.get("cach_thuc_thuc_hien", ""))
    channels, row_problems = merge_rows(rows)
    papers, paper_problems = parse_papers(raw.get("thanh_phan_ho_so", ""))
    legal, legal_problems = parse_legal_basis(raw.get("can_cu_phap_ly", ""))
    problems += channel_problems + row_problems + paper_problems + legal_problems
    return {
        "code": code,
        "name": clean(raw.get("ten_thu_tuc")),
        "field": clean(raw.get("linh_vuc")),
        "levels": levels,
        "other_body": other,
        "agency": clean(raw.get("co_quan_thuc_hien")),
        "authority": clean(raw.get("co_quan_co_tham_quyen")),
        "address": clean(raw.get("dia_chi_tiep_nhan")),
        "subjects": clean(raw.get("doi_tuong_thuc_hien")),
        "steps": split_steps(raw.get("trinh_tu_thuc_hien", "")),
        "channels": channels,
        "papers": papers,
        "conditions": clean(raw.get("yeu_cau_dieu_kien"), keep_lines=True),
        "legal_basis": legal,
        "result": parse_result(raw.get("ket_qua_xu_ly", "")),
        "url": clean(raw.get("detail_url")) or None,
        "problems": problems,
    }


_PORTAL_METHODS = {"DIRECT": "truc_tiep", "ONLINE": "truc_tuyen", "POSTAL": "buu_chinh"}
_PORTAL_UNITS = {"WORKING_DAY": "ngày làm việc", "DAY": "ngày", "HOUR": "giờ", "WORKING_HOUR": "giờ làm việc",
                 "MONTH": "tháng", "YEAR": "năm", "WEEK": "tuần", "MINUTE": "phút"}


def _portal_fields(raw: Mapping[str, Any]) -> dict:
    code = clean(raw.get("code") or raw.get("codeNotation"))
    problems: list[tuple[str, str]] = []
    levels = tuple(level for level, flag in (("bo", "isMinistry"), ("tinh", "isProvince"), ("xa", "isWard"))
                   if raw.get(flag))
    rows = [_portal_row(method) for method in raw.get("executionMethods") or []]
    for method in raw.get("executionMethods") or []:
        if method.get("submissionMethod") not in _PORTAL_METHODS:
            problems.append(("channels", f"unknown submission method {method.get('submissionMethod')!r}"))
    channels, row_problems = merge_rows([r for r in rows if r is not None])
    problems += row_problems
    groups = []
    for case in raw.get("executionCases") or []:
        items = tuple(_portal_paper(c) for c in case.get("profileComponents") or [])
        name = _case_name(case.get("name", "")) or DEFAULT_CASE
        if not items:
            problems.append(("papers", f"case without papers: {name[:120]}"))
        groups.append(PaperGroup(name, items))
    legal = tuple(legal_doc(_portal_number(d.get("code") or ""), d.get("name") or d.get("code") or "")
                  for d in raw.get("legalBasisesDetails") or [])
    for doc in legal:
        if not doc.number:
            problems.append(("legal_basis", "a document without a number: " + doc.title[:200]))
    steps: list[str] = []
    for step in raw.get("executionSteps") or []:
        title = clean(step.get("name"))
        parts = split_steps(step.get("description", ""))
        if title:
            steps.append(title + ("\n" + "\n".join(parts) if parts else ""))
        else:
            steps.extend(parts)
    agencies = clean(raw.get("executingAgencies")) or ", ".join(
        clean(d.get("name")) for d in raw.get("departmentsExecuting") or [] if clean(d.get("name")))
    authority = ", ".join(clean(d.get("name")) for d in raw.get("departmentsAuthority") or [] if clean(d.get("name")))
    updated = raw.get("updatedAt") or raw.get("createdAt")
    return {
        "code": code,
        "name": clean(raw.get("name")),
        "field": "; ".join(clean(c.get("name")) for c in raw.get("categoriesDetails") or [] if clean(c.get("name"))),
        "levels": levels,
        "other_body": bool(raw.get("isOtherAgency")),
        "agency": agencies,
        "authority": authority or clean(raw.get("delegatedAgencies")),
        "address": clean(raw.get("dossierReceivingAddresses")),
        "subjects": ", ".join(clean(s.get("name")) for s in raw.get("subjectTypesDetails") or [] if clean(s.get("name"))),
        "steps": tuple(steps),
        "channels": channels,
        "papers": tuple(groups),
        "conditions": clean(raw.get("requirementsAndConditions"), keep_lines=True),
        "legal_basis": legal,
        "result": "; ".join(_distinct(clean(r.get("name")) for r in raw.get("resultsDetails") or []
                                      if clean(r.get("name")))),
        "url": PORTAL_URL.format(id=raw["id"]) if raw.get("id") else None,
        "problems": problems,
        "updated": _epoch_date(updated),
    }


def _portal_number(code: str) -> str:
    """"Nghị định số 296/2026/NĐ-CP" → "296/2026/NĐ-CP" (the code field sometimes repeats the kind)."""
    code = clean(code)
    match = _NUMBER_RE.search(code)
    return match.group() if match else code


def _portal_paper(component: Mapping[str, Any]) -> Paper:
    """One profile component → a paper (its attachments are the form files)."""
    name = clean(component.get("name"))
    files = [clean(a.get("fileName")) for a in component.get("attachments") or []
             if isinstance(a, dict) and clean(a.get("fileName"))]
    originals, copies = component.get("originalQty") or 0, component.get("copyQty") or 0
    return Paper(name or (files[0] if files else NO_INFO), int(originals), int(copies), _form_code(name, files),
                 ("Mẫu đơn, tờ khai: " + "; ".join(files) + ".") if files else "")


def _epoch_date(value: Any) -> dt.date | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    vietnam = dt.timezone(dt.timedelta(hours=7))
    return dt.datetime.fromtimestamp(value / 1000, tz=vietnam).date()


def _portal_row(method: Mapping[str, Any]) -> _Row | None:
    kind = _PORTAL_METHODS.get(method.get("submissionMethod"))
    if kind is None:
        return None
    problems: list[tuple[str, str]] = []
    quantity, unit = method.get("processingTime"), method.get("processingTimeUnit") or ""
    description = clean(method.get("description"), keep_lines=False)
    working_days = None
    if unit in _PORTAL_UNITS and quantity:
        duration = f"{_number_text(quantity)} {_PORTAL_UNITS[unit]}"
        working_days = int(quantity) if unit == "WORKING_DAY" and float(quantity).is_integer() else None
    elif quantity:
        stated = [int(n) for n in _WORKING_DAYS_RE.findall(description)]
        if float(quantity).is_integer() and int(quantity) in stated:
            duration, working_days = f"{int(quantity)} ngày làm việc", int(quantity)
        else:
            duration = f"{_number_text(quantity)} (không ghi đơn vị)"
            problems.append(("duration", f"time limit without a unit: {METHOD_LABEL[kind]} {quantity!r} ({unit})"))
    else:
        duration = NO_INFO
    fees = []
    for fee in method.get("fees") or []:
        value = fee.get("value")
        currency = _CURRENCIES.get(clean(fee.get("currencyName")), "VND" if not fee.get("currencyId") else "?")
        note = clean(fee.get("description"))
        if isinstance(value, (int, float)) and value == 0:
            fees.append(_Fee(0, "", note, "0"))
        elif isinstance(value, (int, float)):
            amount = int(value) if float(value).is_integer() else value
            per_unit = note.startswith("/")
            fees.append(_Fee(amount, currency if currency != "?" else clean(fee.get("currencyName")) or "?",
                             "" if per_unit else note, str(value)))
            if per_unit:  # "/trang": the unit belongs with the amount
                fees[-1] = dataclasses.replace(fees[-1], note=f"{note[1:].strip()}" and f"mỗi {note[1:].strip()}")
        else:
            fees.append(_Fee(None, "?", note, str(value)))
    if fees:
        fee_text, fee_vnd, fee_problems = _fee_summary(fees, kind)
        problems += fee_problems
    else:
        fee_text, fee_vnd = NO_INFO, None
    return _Row(kind, duration, working_days, fee_text, fee_vnd, description, problems)


def _number_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, (int, float)) and float(value).is_integer() else str(value)


def _build(f: dict, checked_on: dt.date, origin: str, kind: str) -> ImportedRecord:
    code = f["code"]
    if not code:
        raise ImportFailure(f"{origin}: a record without a code (ma_thu_tuc)")
    problems: list[tuple[str, str]] = list(f["problems"])
    flags: list[str] = []
    agency = f["agency"]
    if not agency:
        if f["authority"]:
            agency = f["authority"]
            flags.append(FLAG_AGENCY_FROM_AUTHORITY)
        else:
            flags.append(FLAG_NO_AGENCY)
    if f["other_body"]:
        flags.append(FLAG_OTHER_BODY)
    if not f["levels"]:
        problems.append(("level", "no level of the model (bo, tinh, xa): " + ("only \"Cơ quan khác\""
                                                                            if f["other_body"] else "none given")))
    if not f["papers"] or not any(g.items for g in f["papers"]):
        flags.append(FLAG_NO_PAPERS)
    if not f["channels"] and not any(name == "channels" for name, _ in problems):
        problems.append(("channels", "no submission method: the section is empty"))
    if not f["steps"]:
        problems.append(("steps", "no steps: the section is empty"))
    if not f["legal_basis"]:
        problems.append(("legal_basis", "no legal basis: the section is empty"))
    channels = f["channels"]
    methods = {c.method for c in channels}
    online = "mot_phan" if "truc_tuyen" in methods else "khong"
    url = f["url"] if f["url"] and f["url"].startswith("http") else None
    submit = Submit(where=f["address"] or agency or NO_INFO, online=online,
                    online_url=url if online != "khong" else None, post="buu_chinh" in methods)
    name = f["name"] or code
    procedure = Procedure(
        id=procedure_id(code),
        code=code,
        name=name,
        short_name=short_name(name),
        field=f["field"],
        level=f["levels"],
        agency=agency,
        aliases=(),
        steps=f["steps"],
        channels=channels,
        papers=f["papers"],
        subjects=f["subjects"],
        result=f["result"],
        conditions=f["conditions"],
        legal_basis=f["legal_basis"],
        submit=submit,
        sources=(Source(f"{SOURCE_TITLE}, mã {code}", url),),
        checked_on=checked_on,
        unverified=(),
    )
    flags += quality_flags(procedure)
    unverified = {_UNVERIFIED_FOR[name] for name, _ in problems if name in _UNVERIFIED_FOR}
    if any(name == "channels" for name, _ in problems):
        unverified |= {"fee", "duration"}
    unverified.add("submit")  # online mode (full or partial) and the place are not stated by the source
    procedure = dataclasses.replace(procedure, unverified=tuple(u for u in UNVERIFIABLE_FIELDS if u in unverified))
    return ImportedRecord(procedure, tuple(_distinct(flags)), tuple(_distinct(problems)), origin, kind)


def procedure_id(code: str) -> str:
    """"1.001456" → "tthc-1-001456" (stable: only the code)."""
    return ID_PREFIX + re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-")


# Short names --------------------------------------------------------------------------------------

_SHORT_REPLACEMENTS = (
    (re.compile(r"^thủ tục\s+", re.IGNORECASE), ""),
    (re.compile(r"\(\s*thực hiện tại\s+", re.IGNORECASE), "("),
    (re.compile(r"\(\s*thực hiện ở\s+", re.IGNORECASE), "("),
)
_LEVEL_SUFFIX_RE = re.compile(r"\s*\((cấp [^()]{1,20}|trung ương|ở nước ngoài)\)\s*$", re.IGNORECASE)
_DANGLING_RE = re.compile(r"(?:\s+(?:và|hoặc|của|cho|đối với|tại|với|trong|theo|về|do|để|từ|có|các|là|ở|thuộc))+$"
                          r"|[\s,;:(/-]+$", re.IGNORECASE)


def short_name(name: str, limit: int = SHORT_NAME_MAX) -> str:
    """A readable name for buttons, at most ``limit`` characters.

    "Thủ tục đăng ký khai sinh" → "Đăng ký khai sinh"; "(thực hiện tại cấp tỉnh)" →
    "(cấp tỉnh)"; a longer name is cut at a word, with "…", keeping the level in brackets.
    """
    text = clean(name)
    if text.isupper():
        text = text.lower()
    for pattern, replacement in _SHORT_REPLACEMENTS:
        text = pattern.sub(replacement, text)
    text = _capitalize(text.strip().rstrip("."))
    if len(text) <= limit:
        return text
    suffix = ""
    level = _LEVEL_SUFFIX_RE.search(text)
    if level:
        suffix = f" ({level.group(1)})"
        text = text[:level.start()]
    text = re.sub(r"\s*\([^()]*\)", "", text).strip()  # brackets inside say details
    if len(text) + len(suffix) <= limit:
        return text + suffix
    room = limit - len(suffix) - 1
    cut = text[:room + 1]
    cut = cut[:cut.rfind(" ")] if " " in cut[:room + 1] and len(text) > room else cut[:room]
    previous = None
    while previous != cut:
        previous, cut = cut, _DANGLING_RE.sub("", cut)
    return (cut or text[:room]) + "…" + suffix


_LEVEL_LABELS = {"bo": "cấp bộ", "tinh": "cấp tỉnh", "xa": "cấp xã"}


def distinct_short_names(records: dict[str, ImportedRecord], limit: int = SHORT_NAME_MAX) -> dict[str, ImportedRecord]:
    """Give records whose short names collide names that tell them apart (buttons must differ).

    Names cut at the same words get the end of their own name ("Cấp giấy phép … trên 3.000 m3");
    identical names get their level ("(cấp xã)"), and if that is not enough their code.
    """
    groups: dict[str, list[str]] = {}
    for code, record in records.items():
        groups.setdefault(record.procedure.short_name.casefold(), []).append(code)
    result = dict(records)
    for codes in groups.values():
        if len(codes) < 2:
            continue
        names = {code: _tail_name(records[code].procedure, codes, records, limit) for code in codes}
        for code in codes:
            p = records[code].procedure
            result[code] = dataclasses.replace(records[code], procedure=dataclasses.replace(p, short_name=names[code]))
    seen: dict[str, int] = {}
    for record in result.values():
        key = record.procedure.short_name.casefold()
        seen[key] = seen.get(key, 0) + 1
    for code, record in result.items():  # still the same: the code tells them apart
        p = record.procedure
        if seen[p.short_name.casefold()] > 1:
            name = short_name(p.short_name.rstrip("…"), limit - len(code) - 6) + f" (mã {code})"
            result[code] = dataclasses.replace(record, procedure=dataclasses.replace(p, short_name=name))
    return result


def _tail_name(p: Procedure, codes: list[str], records: dict[str, ImportedRecord], limit: int) -> str:
    others = [records[c].procedure for c in codes if c != p.code]
    words = clean(p.name).split()
    base = p.short_name.rstrip("…")
    for k in range(2, len(words)):
        tail = " ".join(words[-k:])
        room = limit - len(tail) - 3
        if room < 25:
            break
        candidate = short_name(base, room).rstrip("…") + " … " + tail
        if all(not clean(o.name).endswith(tail) for o in others):
            return candidate
    levels = ", ".join(_LEVEL_LABELS[level] for level in p.level)
    if levels and all(o.level != p.level for o in others):
        return short_name(base, limit - len(levels) - 3) + f" ({levels})"
    return short_name(base, limit - len(p.code or "") - 6) + f" (mã {p.code})"


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- quality flags ----------------------------------------------------------------------------

_DISTRICT_RE = re.compile(
    r"cấp huyện|cấp quận"
    r"|(?:UBND|Ủy ban nhân dân|Uỷ ban nhân dân)\s+(?:cấp\s+)?(?:quận|huyện)\b"
    r"|quận\s*/\s*huyện|huyện\s*/\s*quận|quận,\s*huyện|huyện,\s*quận"
    r"|(?<![Vv]ăn )(?-i:Phòng)\s[^.;:,\n\d]{1,60}?\s(?:quận|huyện)\b"  # "Phòng Tư pháp huyện", not an address
    r"|Công an\s+(?:quận|huyện)\b",
    re.IGNORECASE,
)
_VALID_UNTIL_RE = re.compile(
    r"đến\s+(?:hết\s+)?(?:ngày\s+)?(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})"
    r"|đến\s+(?:hết\s+)?ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})",
    re.IGNORECASE,
)


def district_mentions(text: str) -> list[str]:
    """The phrases of ``text`` that name the district level ("cấp huyện", "UBND quận/huyện", …)."""
    return [m.group(0) for m in _DISTRICT_RE.finditer(text or "")]


def expired_dates(text: str, today: dt.date) -> list[dt.date]:
    """Dates in "(áp dụng) đến (hết) ngày dd/mm/yyyy" notes of ``text`` that are before ``today``."""
    dates = []
    for m in _VALID_UNTIL_RE.finditer(text or ""):
        day, month, year = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
        try:
            date = dt.date(int(year), int(month), int(day))
        except ValueError:
            continue
        if date < today:
            dates.append(date)
    return dates


def field_texts(p: Procedure) -> dict[str, str]:
    """The text of each field of ``p``, for flags."""
    return {
        "name": p.name,
        "agency": p.agency,
        "subjects": p.subjects,
        "steps": "\n".join(p.steps),
        "channels": "\n".join(f"{c.duration}\n{c.fee}\n{c.description}" for c in p.channels),
        "papers": "\n".join(f"{g.case}\n" + "\n".join(f"{i.name} {i.note}" for i in g.items) for g in p.papers),
        "conditions": p.conditions,
        "result": p.result,
        "legal_basis": "\n".join(d.title for d in p.legal_basis),
    }


def quality_flags(p: Procedure) -> list[str]:
    """district_level:<field> and expired_fee_note:channels flags of one record."""
    flags = []
    texts = field_texts(p)
    for name, text in texts.items():
        if name != "legal_basis" and district_mentions(text):
            flags.append(f"{FLAG_DISTRICT}:{name}")
    fee_notes = "\n".join(f"{c.fee}\n{c.description}" for c in p.channels)
    if expired_dates(fee_notes, p.checked_on):
        flags.append(f"{FLAG_EXPIRED_FEE}:channels")
    return flags


# --- JSON -------------------------------------------------------------------------------------

def record_to_json(p: Procedure) -> dict:
    """A ``Procedure`` as JSON-ready data (dates as ISO strings); ``record_from_json`` reverses it."""
    data = dataclasses.asdict(p)
    data["level"] = list(p.level)
    data["checked_on"] = p.checked_on.isoformat()
    for doc in data["legal_basis"]:
        doc["issued"] = doc["issued"].isoformat() if doc["issued"] else None
    return _lists(data)


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


class RecordError(ValueError):
    """A JSON record that does not make a ``Procedure``."""


def record_from_json(data: Mapping[str, Any]) -> Procedure:
    """JSON data from ``record_to_json`` (extra key ``import`` allowed) → ``Procedure``."""
    keys = set(RECORD_FIELDS)
    missing = keys - set(data) - {"covers"}  # optional: imported records cover nothing
    unknown = set(data) - keys - {"import"}
    if missing or unknown:
        raise RecordError(f"record {data.get('code')!r}: " + "; ".join(
            filter(None, [f"missing {', '.join(sorted(missing))}" if missing else "",
                          f"unknown {', '.join(sorted(unknown))}" if unknown else ""])))
    try:
        submit = data["submit"]
        return Procedure(
            id=data["id"], code=data["code"], name=data["name"], short_name=data["short_name"],
            field=data["field"], level=tuple(data["level"]), agency=data["agency"],
            aliases=tuple(data["aliases"]), steps=tuple(data["steps"]),
            channels=tuple(Channel(**c) for c in data["channels"]),
            papers=tuple(PaperGroup(g["case"], tuple(Paper(**i) for i in g["items"])) for g in data["papers"]),
            subjects=data["subjects"], result=data["result"], conditions=data["conditions"],
            legal_basis=tuple(LegalDoc(d["number"], d["title"],
                                       dt.date.fromisoformat(d["issued"]) if d["issued"] else None, d["issuer"])
                              for d in data["legal_basis"]),
            submit=Submit(submit["where"], submit["online"], submit["online_url"], submit["post"]),
            sources=tuple(Source(s["title"], s["url"]) for s in data["sources"]),
            checked_on=dt.date.fromisoformat(data["checked_on"]),
            unverified=tuple(data["unverified"]),
            covers=tuple(data.get("covers", ())),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RecordError(f"record {data.get('code')!r}: {error}") from None


def imported_to_json(record: ImportedRecord) -> dict:
    data = record_to_json(record.procedure)
    data["import"] = {"flags": list(record.flags), "problems": [list(p) for p in record.problems],
                      "origin": record.origin, "format": record.format}
    return data


def imported_from_json(data: Mapping[str, Any]) -> ImportedRecord:
    meta = data.get("import") or {}
    return ImportedRecord(record_from_json(data), tuple(meta.get("flags", ())),
                          tuple((p[0], p[1]) for p in meta.get("problems", ())),
                          meta.get("origin", ""), meta.get("format", ""))


def _check_model(p: Procedure) -> None:
    """Values the rest of the project relies on (levels, methods, online modes, one channel per method)."""
    methods = [c.method for c in p.channels]
    if (any(level not in LEVELS for level in p.level) or any(m not in METHODS for m in methods)
            or len(set(methods)) != len(methods) or p.submit.online not in ONLINE_MODES):
        raise RecordError(f"record {p.code!r}: a value outside the model (level, method or online mode)")


# --- catalogue file ---------------------------------------------------------------------------

def catalogue_lines(records: Mapping[str, ImportedRecord] | Iterable[ImportedRecord]) -> Iterator[str]:
    values = records.values() if isinstance(records, Mapping) else records
    for record in sorted(values, key=lambda r: r.code):
        _check_model(record.procedure)
        yield json.dumps(imported_to_json(record), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_catalogue(result: ImportResult | Mapping[str, ImportedRecord], path: str | Path | None = None) -> Path:
    """Write the records, one JSON object a line sorted by code, gzip'ed reproducibly (no timestamp)."""
    path = Path(path) if path is not None else DEFAULT_CATALOGUE
    records = result.records if isinstance(result, ImportResult) else result
    text = "".join(line + "\n" for line in catalogue_lines(records)).encode("utf-8")
    buffer = io.BytesIO()
    if path.name.endswith(".gz"):
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as handle:
            handle.write(text)
    else:
        buffer.write(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(path)
    return path


def read_catalogue(path: str | Path | None = None) -> dict[str, ImportedRecord]:
    """The records of an imported catalogue file, by code."""
    path = Path(path) if path is not None else DEFAULT_CATALOGUE
    opener = gzip.open if path.name.endswith(".gz") else open
    records = {}
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = imported_from_json(json.loads(line))
            except (json.JSONDecodeError, RecordError) as error:
                raise RecordError(f"{path}:{number}: {error}") from None
            records[record.code] = record
    return records


# --- changes ----------------------------------------------------------------------------------

def _as_records(previous: Any) -> dict[str, ImportedRecord]:
    if isinstance(previous, ImportResult):
        return previous.records
    if isinstance(previous, Mapping):
        return dict(previous)
    path = Path(previous)
    return read_catalogue(path) if path.exists() else {}


def compare(old: Mapping[str, ImportedRecord], new: Mapping[str, ImportedRecord]) -> Changes:
    """Codes added and removed, and for the others the fields (and "flags") that differ."""
    changes = Changes(added=sorted(set(new) - set(old)), removed=sorted(set(old) - set(new)))
    for code in sorted(set(old) & set(new)):
        before, after = imported_to_json(old[code]), imported_to_json(new[code])
        fields = [name for name in RECORD_FIELDS if before[name] != after[name]]
        if before["import"]["flags"] != after["import"]["flags"]:
            fields.append("flags")
        if fields:
            changes.changed[code] = fields
    return changes


# --- report -----------------------------------------------------------------------------------

def report(records: Mapping[str, ImportedRecord], *, limit: int | None = 15) -> str:
    """Parse problems and quality flags: per field or flag, how many records and which codes."""
    lines = [f"{len(records)} imported records"]
    sources = sorted({(r.origin, r.procedure.checked_on.isoformat()) for r in records.values()})
    for origin, date in sources:
        count = sum(1 for r in records.values() if r.origin == origin)
        lines.append(f"  {origin or '(unknown file)'}: {count} records, source date {date}")
    by_field: dict[str, list[str]] = {}
    for code, record in records.items():
        for name in _distinct(name for name, _ in record.problems):
            by_field.setdefault(name, []).append(code)
    lines.append("")
    lines.append("Parse problems (kept as text), per field:")
    if not by_field:
        lines.append("  none")
    for name, codes in sorted(by_field.items()):
        lines.append(f"  {name}: {_count(len(codes))}: {_codes(codes, limit)}")
        kinds: dict[str, int] = {}
        for code in codes:
            for field_name, text in records[code].problems:
                if field_name == name:
                    kinds[_problem_kind(text)] = kinds.get(_problem_kind(text), 0) + 1
        for kind, count in sorted(kinds.items(), key=lambda item: (-item[1], item[0]))[:8]:
            lines.append(f"      {count:5d} × {kind}")
    lines.append("")
    lines.append("Quality flags:")
    index = _flag_index(records.values())
    if not index:
        lines.append("  none")
    kinds_total: dict[str, set[str]] = {}
    for flag, codes in index.items():
        kinds_total.setdefault(flag.split(":")[0], set()).update(codes)
    for kind, codes in sorted(kinds_total.items()):
        lines.append(f"  {kind} — {FLAG_DESCRIPTIONS.get(kind, '')}: {_count(len(codes))}")
        for flag, flag_codes in index.items():
            if flag.split(":")[0] == kind:
                where = flag.split(":", 1)[1] if ":" in flag else ""
                lines.append(f"      {where or kind}: {len(flag_codes)}: {_codes(flag_codes, limit)}")
    return "\n".join(lines)


def report_data(records: Mapping[str, ImportedRecord]) -> dict:
    """The report as data: {"records", "problems": {field: {code: [text…]}}, "flags": {flag: [code…]}}."""
    problems: dict[str, dict[str, list[str]]] = {}
    for code, record in sorted(records.items()):
        for name, text in record.problems:
            problems.setdefault(name, {}).setdefault(code, []).append(text)
    return {"records": len(records), "problems": dict(sorted(problems.items())),
            "flags": _flag_index(records[c] for c in sorted(records))}


def _count(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def _codes(codes: list[str], limit: int | None) -> str:
    codes = sorted(codes)
    if limit is None or len(codes) <= limit:
        return ", ".join(codes)
    return ", ".join(codes[:limit]) + f", … (+{len(codes) - limit} more)"


def _problem_kind(text: str) -> str:
    """A problem's kind: its message up to the first ": " (the rest is the record's own text)."""
    return text.split(": ", 1)[0][:80]


def summary(result: ImportResult) -> str:
    """What an import read and changed, for the command line."""
    lines = []
    for source in result.sources:
        lines.append(f"read {source.path}: {source.records} records, source date "
                     f"{source.checked_on.isoformat() if source.checked_on else 'from the records'}")
    for code, kept, replaced in result.duplicates:
        lines.append(f"duplicate code {code}: kept the record of {kept}, replaced the one of {replaced}")
    problems = result.problems
    lines.append(f"{len(result.records)} records; parse problems in {sum(1 for r in result.records.values() if r.problems)}"
                 " records: " + (", ".join(f"{name} {len(codes)}" for name, codes in problems.items()) or "none"))
    kinds: dict[str, set[str]] = {}
    for flag, codes in result.flag_index().items():
        kinds.setdefault(flag.split(":")[0], set()).update(codes)
    lines.append("flags: " + (", ".join(f"{kind} {len(codes)}" for kind, codes in sorted(kinds.items())) or "none"))
    if result.changes is not None:
        changes = result.changes
        if changes.is_empty():
            lines.append("no changes")
        else:
            lines.append(f"added {len(changes.added)}: {_codes(changes.added, 15)}" if changes.added else "added 0")
            lines.append(f"removed {len(changes.removed)}: {_codes(changes.removed, 15)}" if changes.removed
                         else "removed 0")
            lines.append(f"changed {len(changes.changed)}")
            for name, codes in changes.by_field().items():
                lines.append(f"  {name}: {len(codes)}: {_codes(codes, 15)}")
    return "\n".join(lines)

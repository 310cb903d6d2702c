"""Editing the catalogue from the staff page: list, read, validate, save, version.

    editor = Editor(versions_db="var/bot.db")          # directory: catalogue_directory()
    editor.list(q="hộ chiếu", limit=50)                 # {"total", "items": [...]}
    editor.record("ho-chieu")                           # the record, YAML field names, JSON types
    editor.save("ho-chieu", record, author="thu.canbo") # validated like the loader, then written
    editor.versions("ho-chieu")                         # [{"id", "author", "created", "diff"}, ...]

Validation is the loader's own (``procedures.schema.procedure`` for the record,
``procedures.loading.phrase_conflicts`` against the other hand-written records, then the whole
directory is loaded again after the write and the file restored if that fails); there is no second
copy of any rule. Errors are ``EditError`` with the field path (``channels[0].fee_vnd``) and a
Vietnamese message for staff.

A saved record is written to ``<directory>/<id>.yml`` by an atomic rename, in the layout of the
hand-written files (``dump_yaml``), so that git stays the source of truth and the live catalogue
(``procedures.loading.default_catalogue``) picks it up in every process on its next call. Saving an
imported record writes a hand-written one with its national code, which then wins over the import.

Each save is a version in the SQLite table ``procedure_versions`` (who, when, the unified diff
between the previous record and the new file, and the new file's text).
"""

from __future__ import annotations

import hashlib

import dataclasses
import datetime as dt
import difflib
import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import yaml

from procedures import schema
from procedures.loading import (
    CatalogueError,
    _load_file,
    _StrictLoader,
    catalogue_directory,
    default_catalogue,
    file_label,
    load_catalogue,
    phrase_conflicts,
)
from procedures.model import Procedure
from procedures.search import fold_phrase

MAX_LIMIT = 200
MAX_ID_LENGTH = 100   # the longest id is under 20 characters; a file name may have 255 bytes
VERSIONS_TABLE = "procedure_versions"
# Fields written without quotes when YAML allows it (the rest are double-quoted, as in the files):
# top-level ones, then those of nested mappings.
_PLAIN_TOP = {"id", "name", "short_name", "field", "level", "aliases"}
_PLAIN_NESTED = {"method", "online"}
_PAPER_ORDER = ("name", "form", "originals", "copies", "note")


class EditError(ValueError):
    """A record that cannot be saved: ``field`` (a path, or None) and a Vietnamese ``message``."""

    def __init__(self, field: str | None, message: str, detail: str = "", status: int = 400):
        super().__init__(message)
        self.field = field
        self.message = message
        self.detail = detail
        self.status = status

    def as_json(self) -> dict:
        return {"error": self.message, "field": self.field, **({"detail": self.detail} if self.detail else {})}


# --- records as data ------------------------------------------------------------------------

STALE = ("Thủ tục này vừa được người khác sửa sau khi bạn mở nó, nên bản của bạn chưa được lưu. "
         "Bạn sao lại phần mình sửa, mở lại thủ tục để xem bản mới rồi sửa tiếp.")


def etag(text: str) -> str:
    """The version tag of a record's YAML text (sent as HTTP ``ETag``, compared with ``If-Match``)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def to_record(procedure: Procedure, *, dates: Callable[[dt.date], Any] = dt.date.isoformat) -> dict:
    """The record with the YAML's field names; optional empty fields left out, as in the files."""
    return _plain(dataclasses.asdict(procedure), dates)


def _plain(value: Any, dates: Callable[[dt.date], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v, dates) for k, v in value.items() if not _omitted(k, v)}
    if isinstance(value, (list, tuple)):
        return [_plain(v, dates) for v in value]
    if isinstance(value, dt.date):
        return dates(value)
    return value


def _omitted(key: str, value: Any) -> bool:
    """Optional keys at their default: ``description``/``note`` empty, ``form``/source ``url`` null."""
    return ((key in ("description", "note") and value == "") or (key in ("form", "url") and value is None)
            or (key == "covers" and not value))


def dump_yaml(procedure: Procedure) -> str:
    """The record's file text, in the layout of procedures/catalogue/*.yml."""
    record = to_record(procedure, dates=lambda d: d)
    if len(record["level"]) == 1:
        record["level"] = record["level"][0]
    for group in record["papers"]:  # the files name the form right after the paper
        group["items"] = [{k: item[k] for k in _PAPER_ORDER if k in item} for item in group["items"]]
    lines: list[str] = []
    for key, value in record.items():
        _emit(lines, key, value, 0)
    return "\n".join(lines) + "\n"


def _emit(lines: list[str], key: str, value: Any, indent: int, first: str = "") -> None:
    pad = first or " " * indent
    if isinstance(value, dict):
        lines.append(f"{pad}{key}:")
        for k, v in value.items():
            _emit(lines, k, v, indent + 2)
    elif isinstance(value, list) and key in ("level", "unverified"):
        lines.append(f"{pad}{key}: [{', '.join(value)}]")
    elif isinstance(value, list):
        lines.append(f"{pad}{key}:" + ("" if value else " []"))
        for item in value:
            _emit_item(lines, key, item, indent + 2)
    else:
        lines.append(f"{pad}{key}: {_scalar(key, value, top=indent == 0)}")


def _emit_item(lines: list[str], key: str, item: Any, indent: int) -> None:
    if not isinstance(item, dict):
        lines.append(f"{' ' * indent}- {_scalar(key, item, top=indent == 2)}")
        return
    for i, (k, v) in enumerate(item.items()):
        _emit(lines, k, v, indent + 2, first=f"{' ' * indent}- " if i == 0 else "")


def _scalar(key: str, value: Any, top: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, dt.date)):
        return str(value)
    if key in (_PLAIN_TOP if top else _PLAIN_NESTED) and _plain_safe(value):
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _plain_safe(text: str) -> bool:
    try:
        return yaml.safe_load(f"k: {text}") == {"k": text} and "\n" not in text
    except yaml.YAMLError:
        return False


def parse_yaml(text: Any) -> Any:
    """A record's YAML text parsed as the loader does (duplicate keys refused); ``EditError`` else."""
    if not isinstance(text, str):
        raise EditError("yaml", "Nội dung YAML phải là một chuỗi chữ.")
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_StrictLoader)):
            raise EditError("yaml", "YAML của hồ sơ thủ tục không dùng neo và tham chiếu (&, *).")
        raw = yaml.load(text, Loader=_StrictLoader)
        return _plain(raw, dt.date.isoformat)
    except yaml.YAMLError as error:
        raise _yaml_error(error) from None
    except RecursionError:
        raise EditError("yaml", "YAML lồng nhau quá sâu.") from None


def _yaml_error(error: yaml.YAMLError) -> EditError:
    """“YAML không đọc được ở dòng 3, cột 1: khóa 'id' bị lặp lại.” (PyYAML's own words otherwise)."""
    mark = getattr(error, "problem_mark", None)
    where = f" ở dòng {mark.line + 1}, cột {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    problem = re.sub(r"^duplicate key (.*)$", r"khóa \1 bị lặp lại", " ".join(problem.split()))
    return EditError("yaml", f"YAML không đọc được{where}: {problem}.", " ".join(str(error).split()))


# --- validation ------------------------------------------------------------------------------

# English messages of procedures.schema → what staff read. Unknown ones keep the English text.
_MESSAGES = [
    (r"must be a mapping", "phải là một nhóm trường (dạng “khóa: giá trị”)"),
    (r"missing required key", "thiếu trường bắt buộc này"),
    (r"unknown key", "không có trường này trong mẫu hồ sơ thủ tục (có thể viết sai tên trường)"),
    (r"must be a string", "phải là một chuỗi chữ"),
    (r"must not be empty", "không được để trống"),
    (r"must be NFC-normalised.*", "dấu tiếng Việt không theo chuẩn Unicode NFC (bạn gõ lại dấu)"),
    (r"must not start or end with spaces", "không được có dấu cách ở đầu hoặc cuối"),
    (r"must be an integer or null", "phải là một số nguyên (ví dụ 200000) hoặc null"),
    (r"must be an integer", "phải là một số nguyên (ví dụ 200000)"),
    (r"must not be negative", "không được là số âm"),
    (r"must be true or false", "phải là true hoặc false"),
    (r"must be one of: (.*) \(got (.*)\)", r"phải là một trong các giá trị: \1 (đang là \2)"),
    (r"must be a date \(YYYY-MM-DD\), not a date and time", "phải là một ngày (YYYY-MM-DD), không kèm giờ"),
    (r"must be a date \(YYYY-MM-DD\) or null", "phải là một ngày dạng YYYY-MM-DD hoặc null"),
    (r"must be a date \(YYYY-MM-DD\)", "phải là một ngày dạng YYYY-MM-DD, ví dụ 2026-11-23"),
    (r"must be an http\(s\) URL or null", "phải là một địa chỉ http(s) hoặc null"),
    (r"must be an http\(s\) URL", "phải là một địa chỉ http(s)"),
    (r"must look like (.*) or be null", r"phải có dạng \1 hoặc null"),
    (r"must look like (.*)", r"phải có dạng \1"),
    (r"must be a list", "phải là một danh sách"),
    (r"duplicate value (.*)", r"giá trị \1 bị lặp lại"),
    (r"duplicate channel (.*)", r"cách nộp \1 bị lặp lại"),
    (r".*a truc_tuyen channel exists.*", "không khớp với các cách nộp: có cách nộp truc_tuyen khi và chỉ khi "
                                         "online khác 'khong'"),
    (r".*a buu_chinh channel exists.*", "không khớp với các cách nộp: có cách nộp buu_chinh khi và chỉ khi "
                                        "post là true"),
    (r"must be null when online is 'khong'", "phải là null khi online là 'khong'"),
    (r"repeats (\S+) once diacritics are removed.*", r"trùng với \1 khi bỏ dấu (dạng không dấu được tự suy ra)"),
    (r"(.*) already names procedure (\S+) .*", r"\1 đã là tên gọi của thủ tục \2"),
    (r"must not repeat the record's own code", "không được lặp lại mã của chính thủ tục này"),
]


def vietnamese(field: str | None, message: str) -> str:
    """“Trường “channels[0].fee_vnd”: phải là một số nguyên …” for a schema message."""
    for pattern, replacement in _MESSAGES:
        if re.fullmatch(pattern, message):
            message = re.sub(pattern, replacement, message)
            break
    return f"Trường “{field}”: {message}." if field else f"{message}."


def field_error(field: str, message: str) -> EditError:
    return EditError(field, vietnamese(field, message), message)


def validate(procedure_id: str, record: Any, others: list[Procedure]) -> Procedure:
    """The record as the loader would accept it as ``<procedure_id>.yml`` beside ``others``."""
    if not isinstance(record, dict):
        raise EditError(None, "Nội dung gửi lên phải là một hồ sơ thủ tục (đối tượng JSON).")
    try:
        procedure = schema.procedure(record)
    except schema.FieldError as error:
        raise field_error(error.field, error.message) from None
    if procedure.id != procedure_id:
        raise EditError("id", f"Trường “id”: phải là “{procedure_id}” như trong địa chỉ (đang là “{procedure.id}”).")
    if schema.procedure(yaml.load(dump_yaml(procedure), Loader=_StrictLoader)) != procedure:  # reads back the same
        raise EditError(None, "Không ghi được hồ sơ này ra YAML đúng như nhập.")
    _check_phrases(procedure, others)
    return procedure


def _check_phrases(procedure: Procedure, others: list[Procedure]) -> None:
    """The loader's check that no phrase names two hand-written procedures."""
    mine = Path(f"{procedure.id}.yml")
    loaded = [(Path(f"{p.id}.yml"), p) for p in others if p.id != procedure.id] + [(mine, procedure)]
    for problem in phrase_conflicts(loaded):
        label, field, message = problem.split(": ", 2)
        if label == str(mine):
            raise field_error(field, message)


# --- the editor -------------------------------------------------------------------------------

class Editor:
    """The catalogue as staff edit it: ``directory`` holds the hand-written records, the imported ones
    come from ``catalogue()`` (the live default catalogue), versions go to ``versions_db``."""

    _lock = threading.Lock()  # one save at a time in the process (only the bot app writes)

    def __init__(self, versions_db: "str | Path", directory: str | Path | None = None, catalogue=None):
        self.directory = Path(directory) if directory is not None else catalogue_directory()
        self.catalogue = catalogue or default_catalogue
        self.versions_db = versions_db  # a SQLite path or a SQLAlchemy URL (bot.db.database)

    # reading
    def list(self, q: str = "", limit: int = 50, offset: int = 0, source: str = "all") -> dict:
        """Records to check first: those with unverified fields, then the oldest ``checked_on``."""
        catalogue = self.catalogue().current()
        found = _matching(catalogue, q)
        if source in ("hand_written", "imported"):
            found = [p for p in found if catalogue.is_imported(p.id) == (source == "imported")]
        found.sort(key=lambda p: (not p.unverified, p.checked_on, p.id))
        limit = max(0, min(limit, MAX_LIMIT))
        return {"total": len(found), "limit": limit, "offset": offset,
                "items": [self._item(catalogue, p) for p in found[offset:offset + limit]]}

    @staticmethod
    def _item(catalogue, p: Procedure) -> dict:
        imported = catalogue.is_imported(p.id)
        return {"id": p.id, "code": catalogue.national_code(p.id), "name": p.name, "short_name": p.short_name,
                "checked_on": p.checked_on.isoformat(), "unverified": list(p.unverified),
                "imported": imported, "source": "imported" if imported else "hand_written",
                "flags": list(catalogue.flags(p.id))}

    def procedure(self, procedure_id: str) -> Procedure | None:
        """The hand-written record in ``directory`` (as saved), else the imported one, else None."""
        path = self._path(procedure_id)
        if path is not None and path.exists():
            try:
                return _load_file(path)
            except CatalogueError:  # a broken file is shown from the catalogue the bot still answers from
                pass
        catalogue = self.catalogue().current()
        return catalogue.get(procedure_id)

    def record(self, procedure_id: str) -> dict | None:
        procedure = self.procedure(procedure_id)
        return to_record(procedure) if procedure else None

    def source(self, procedure_id: str) -> dict | None:
        """The YAML text the record is (or would be) saved as, and where it comes from."""
        procedure = self.procedure(procedure_id)
        if procedure is None:
            return None
        path = self._path(procedure_id)
        on_disk = path is not None and path.exists()
        text = path.read_text(encoding="utf-8") if on_disk else dump_yaml(procedure)
        return {"id": procedure_id, "yaml": text, "imported": not on_disk, "file": file_label(path) if on_disk else None,
                "etag": etag(text)}

    def etag(self, procedure_id: str) -> str | None:
        """The tag of the record as it is now (what ``save(expected=…)`` compares), or None."""
        source = self.source(procedure_id)
        return source["etag"] if source else None

    def _path(self, procedure_id: str) -> Path | None:
        """``<directory>/<id>.yml``, or None for an id no record can have (then: not found / 400).

        ``fullmatch``: ``ID_RE``'s ``$`` also matches before a final newline; the length bound keeps
        an id from the address from reaching the file system as a name it refuses (ENAMETOOLONG)."""
        if not isinstance(procedure_id, str) or len(procedure_id) > MAX_ID_LENGTH:
            return None
        return self.directory / f"{procedure_id}.yml" if schema.ID_RE.fullmatch(procedure_id) else None

    # writing
    def save(self, procedure_id: str, record: Any, author: str, *, create: bool = False,
             expected: str | None = None) -> dict:
        """Validate, write ``<id>.yml``, check the directory loads, version; the new version.

        ``expected``: the ``etag`` of the record the staff member edited (HTTP ``If-Match``); when
        the record has changed since (another staff member saved it), nothing is written (412)."""
        with self._lock:
            path = self._path(procedure_id)
            if path is None:
                raise EditError("id", "Trường “id”: phải có dạng 'ho-chieu' (chữ thường không dấu, số, gạch nối), "
                                      f"tối đa {MAX_ID_LENGTH} ký tự.")
            if create and path.exists():
                raise EditError("id", f"Đã có thủ tục “{procedure_id}”; bạn mở thủ tục đó để sửa.", status=409)
            if expected is not None and expected != "*" and expected != self.etag(procedure_id):
                raise EditError(None, STALE, status=412)
            others = self._hand_written()
            previous = self.procedure(procedure_id)
            procedure = validate(procedure_id, record, others)
            text = dump_yaml(procedure)
            old_text = path.read_text(encoding="utf-8") if path.exists() else None
            if old_text == text:
                return {"changed": False, **(self.versions(procedure_id)[:1] or [{}])[0]}
            action = "edited" if old_text is not None else ("from_import" if previous else "created")
            self._write(path, text, old_text)
            diff = _diff(procedure_id, dump_yaml(previous) if previous else "", text)
            version = self._record_version(procedure_id, author, action, diff, text)
        self.catalogue().current()  # applied in this process now; the others on their next call
        return {"changed": True, **version}

    def _hand_written(self) -> list[Procedure]:
        try:
            return load_catalogue(self.directory).all()
        except CatalogueError as error:
            raise EditError(None, "Danh mục thủ tục hiện có lỗi, chưa lưu được; bạn báo cho kỹ thuật viên.",
                            str(error), status=409) from None

    def _write(self, path: Path, text: str, old_text: str | None) -> None:
        """Atomic write; the file is restored (or removed) if the directory then fails to load."""
        _atomic_write(path, text)
        try:
            load_catalogue(self.directory)
        except CatalogueError as error:
            if old_text is None:
                path.unlink()
            else:
                _atomic_write(path, old_text)
            raise EditError(None, "Danh mục không đọc được sau khi ghi, đã hoàn tác; bạn báo cho kỹ thuật viên.",
                            str(error), status=409) from None

    # versions (the app's database, ``bot.db``: SQLite or PostgreSQL)
    def _db(self):
        from bot import db

        return db.database(self.versions_db)

    def _record_version(self, procedure_id: str, author: str, action: str, diff: str, text: str) -> dict:
        row = {"procedure_id": procedure_id, "author": author, "action": action, "diff": diff, "text": text,
               "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        row["id"] = self._db().insert(
            f"INSERT INTO {VERSIONS_TABLE} (procedure_id, author, action, diff, text, created)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (row["procedure_id"], row["author"], row["action"], row["diff"], row["text"], row["created"]))
        return _version_json(row)

    def versions(self, procedure_id: str, limit: int = 50) -> list[dict]:
        """The record's versions, newest first."""
        rows = self._db().all(f"SELECT * FROM {VERSIONS_TABLE} WHERE procedure_id = ? ORDER BY id DESC LIMIT ?",
                              (procedure_id, int(limit)))
        return [_version_json(r) for r in rows]


def _version_json(row: dict) -> dict:
    return {k: row[k] for k in ("id", "procedure_id", "author", "created", "action", "diff")}


def _diff(procedure_id: str, old: str, new: str) -> str:
    name = f"{procedure_id}.yml"
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{name}" if old else "/dev/null", tofile=f"b/{name}"))


def _atomic_write(path: Path, text: str) -> None:
    """Write beside the file under a name the loader ignores, then rename over it."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _matching(catalogue, q: str) -> list[Procedure]:
    """Records whose id, code, name, short name or aliases hold a word starting with each word of ``q``
    (folded: with or without diacritics, any case, any order)."""
    words = [f" {w}" for w in fold_phrase(q or "").split()]
    if not words:
        return catalogue.all()
    return [p for p, text in _search_texts(catalogue) if all(w in text for w in words)]


_texts_lock = threading.Lock()
_texts: tuple = (None, [])  # (catalogue snapshot, [(procedure, folded text)]) of the last one searched


def _search_texts(catalogue) -> list[tuple[Procedure, str]]:
    """The folded searchable text of every record, once per catalogue snapshot (~0.8 s for ~2,600)."""
    global _texts
    with _texts_lock:
        if _texts[0] is not catalogue:
            _texts = (catalogue, [(p, " " + " | ".join(fold_phrase(t) for t in _searchable(catalogue, p)))
                                  for p in catalogue])
        return _texts[1]


def _searchable(catalogue, p: Procedure) -> list[str]:
    return [p.id.replace("-", " "), catalogue.national_code(p.id) or "", p.name, p.short_name, *p.aliases]

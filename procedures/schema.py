"""Validation of one record: a parsed YAML mapping → a ``Procedure``.

Every check raises ``FieldError`` naming the field as a path such as
``channels[0].fee_vnd``; the loader adds the file name. Unknown keys are errors too,
so a misspelt key cannot silently drop data.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Callable, Iterable, TypeVar

from procedures.model import (
    LEVELS, METHODS, ONLINE_MODES, UNVERIFIABLE_FIELDS,
    Channel, LegalDoc, Paper, PaperGroup, Procedure, Source, Submit,
)

T = TypeVar("T")

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CODE_RE = re.compile(r"^[123]\.\d{6}(?:\.[A-Z0-9]+)?$")  # 1.001456, 1.012753.H19
URL_RE = re.compile(r"^https?://\S+$")

PROCEDURE_KEYS = ("id", "code", "name", "short_name", "field", "level", "agency", "aliases", "steps",
                  "channels", "papers", "subjects", "result", "conditions", "legal_basis", "submit",
                  "sources", "checked_on", "unverified")
OPTIONAL_PROCEDURE_KEYS = ("covers",)


class FieldError(ValueError):
    """A problem with one field of a record."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Mapping:
    """Typed access to the keys of one YAML mapping, with the mapping's path for errors."""

    def __init__(self, value: Any, path: str, required: Iterable[str], optional: Iterable[str] = ()):
        if not isinstance(value, dict):
            raise FieldError(path or "(top level)", "must be a mapping")
        self.data = value
        self.path = path
        required, optional = tuple(required), tuple(optional)
        for key in required:
            if key not in value:
                raise FieldError(self.at(key), "missing required key")
        for key in value:
            if key not in required and key not in optional:
                raise FieldError(self.at(str(key)), "unknown key")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, check: Callable[..., T], *args: Any, default: Any = None, **kwargs: Any) -> T:
        """``check(value, path, ...)`` for ``key``; ``default`` when an optional key is absent."""
        if key not in self.data:
            return default
        return check(self.data[key], self.at(key), *args, **kwargs)


# --- scalar checks: check(value, path) -> value --------------------------------------------

def text(value: Any, path: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldError(path, "must be a string")
    if not allow_empty and not value.strip():
        raise FieldError(path, "must not be empty")
    if not unicodedata.is_normalized("NFC", value):
        raise FieldError(path, "must be NFC-normalised Unicode (retype the diacritics)")
    if value != value.strip():
        raise FieldError(path, "must not start or end with spaces")
    return value


def optional_text(value: Any, path: str) -> str | None:
    return None if value is None else text(value, path)


def integer(value: Any, path: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(path, "must be an integer" + (" or null" if nullable else ""))
    if value < 0:
        raise FieldError(path, "must not be negative")
    return value


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(path, "must be true or false")
    return value


def choice(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise FieldError(path, f"must be one of: {', '.join(allowed)} (got {value!r})")
    return value


def date(value: Any, path: str, *, nullable: bool = False) -> dt.date | None:
    if value is None and nullable:
        return None
    if isinstance(value, dt.datetime):
        raise FieldError(path, "must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise FieldError(path, "must be a date (YYYY-MM-DD)" + (" or null" if nullable else ""))


def url(value: Any, path: str, *, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not URL_RE.match(value):
        raise FieldError(path, "must be an http(s) URL" + (" or null" if nullable else ""))
    return value


def pattern(value: Any, path: str, regex: re.Pattern, example: str, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not regex.match(value):
        raise FieldError(path, f"must look like {example!r}" + (" or be null" if nullable else ""))
    return value


def items(value: Any, path: str, check: Callable[[Any, str], T], *, allow_empty: bool = False,
          unique: bool = False) -> tuple[T, ...]:
    """A list whose items each pass ``check(item, "path[i]")``."""
    if not isinstance(value, list):
        raise FieldError(path, "must be a list")
    if not value and not allow_empty:
        raise FieldError(path, "must not be empty")
    result = tuple(check(item, f"{path}[{i}]") for i, item in enumerate(value))
    if unique:
        for i, item in enumerate(result):
            if item in result[:i]:
                raise FieldError(f"{path}[{i}]", f"duplicate value {item!r}")
    return result


# --- nested records -------------------------------------------------------------------------

def channel(value: Any, path: str) -> Channel:
    m = _Mapping(value, path, ("method", "duration", "working_days", "fee", "fee_vnd"), ("description",))
    return Channel(
        method=m.get("method", choice, METHODS),
        duration=m.get("duration", text),
        working_days=m.get("working_days", integer, nullable=True),
        fee=m.get("fee", text),
        fee_vnd=m.get("fee_vnd", integer, nullable=True),
        description=m.get("description", text, default="", allow_empty=True),
    )


def paper(value: Any, path: str) -> Paper:
    m = _Mapping(value, path, ("name", "originals", "copies"), ("form", "note"))
    return Paper(
        name=m.get("name", text),
        originals=m.get("originals", integer),
        copies=m.get("copies", integer),
        form=m.get("form", optional_text),
        note=m.get("note", text, default="", allow_empty=True),
    )


def paper_group(value: Any, path: str) -> PaperGroup:
    m = _Mapping(value, path, ("case", "items"))
    return PaperGroup(case=m.get("case", text), items=m.get("items", items, paper))


def legal_doc(value: Any, path: str) -> LegalDoc:
    m = _Mapping(value, path, ("number", "title", "issued", "issuer"))
    return LegalDoc(
        number=m.get("number", text),
        title=m.get("title", text),
        issued=m.get("issued", date, nullable=True),
        issuer=m.get("issuer", text),
    )


def source(value: Any, path: str) -> Source:
    m = _Mapping(value, path, ("title",), ("url",))
    return Source(title=m.get("title", text), url=m.get("url", url))


def submit(value: Any, path: str) -> Submit:
    m = _Mapping(value, path, ("where", "online", "online_url", "post"))
    return Submit(
        where=m.get("where", text),
        online=m.get("online", choice, ONLINE_MODES),
        online_url=m.get("online_url", url),
        post=m.get("post", boolean),
    )


def levels(value: Any, path: str) -> tuple[str, ...]:
    """``tinh`` or ``[tinh, bo]`` → a tuple of levels."""
    if isinstance(value, list):
        return items(value, path, lambda v, p: choice(v, p, LEVELS), unique=True)
    return (choice(value, path, LEVELS),)


def procedure(raw: Any) -> Procedure:
    """Validate one parsed record and build the ``Procedure``."""
    m = _Mapping(raw, "", PROCEDURE_KEYS, OPTIONAL_PROCEDURE_KEYS)
    record = Procedure(
        id=m.get("id", pattern, ID_RE, "ho-chieu"),
        code=m.get("code", pattern, CODE_RE, "1.001456", nullable=True),
        name=m.get("name", text),
        short_name=m.get("short_name", text),
        field=m.get("field", text),
        level=m.get("level", levels),
        agency=m.get("agency", text),
        aliases=m.get("aliases", items, text, unique=True),
        steps=m.get("steps", items, text),
        channels=m.get("channels", items, channel),
        papers=m.get("papers", items, paper_group),
        subjects=m.get("subjects", text),
        result=m.get("result", text),
        conditions=m.get("conditions", text, allow_empty=True),
        legal_basis=m.get("legal_basis", items, legal_doc),
        submit=m.get("submit", submit),
        sources=m.get("sources", items, source),
        checked_on=m.get("checked_on", date),
        unverified=m.get("unverified", items, lambda v, p: choice(v, p, UNVERIFIABLE_FIELDS),
                         allow_empty=True, unique=True),
        covers=m.get("covers", items, lambda v, p: pattern(v, p, CODE_RE, "1.014062"), allow_empty=True,
                     unique=True, default=()),
    )
    if record.code and record.code in record.covers:
        raise FieldError("covers", "must not repeat the record's own code")
    _check_channels(record)
    return record


def _check_channels(record: Procedure) -> None:
    """One channel per method, consistent with ``submit``."""
    methods = [c.method for c in record.channels]
    for i, method in enumerate(methods):
        if method in methods[:i]:
            raise FieldError(f"channels[{i}].method", f"duplicate channel {method!r}")
    if (record.submit.online == "khong") == ("truc_tuyen" in methods):
        raise FieldError("submit.online", f"{record.submit.online!r} does not agree with the channels "
                         "(a truc_tuyen channel exists exactly when online is not 'khong')")
    if record.submit.post != ("buu_chinh" in methods):
        raise FieldError("submit.post", f"{record.submit.post} does not agree with the channels "
                         "(a buu_chinh channel exists exactly when post is true)")
    if record.submit.online == "khong" and record.submit.online_url:
        raise FieldError("submit.online_url", "must be null when online is 'khong'")

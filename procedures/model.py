"""The data model of one catalogue record.

A record mirrors a procedure in the national database (CSDL quốc gia về TTHC): code,
level, agency, steps, channels (how to submit, with time limit and fee per channel),
papers grouped by case, legal basis and conditions; plus what the catalogue adds:
aliases, submission details, sources, the date the record was checked and the fields
that are not verified.

All records are immutable. Lists from the YAML become tuples; ``level`` is always a
tuple (``("tinh",)`` for ``level: tinh``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

LEVELS = ("bo", "tinh", "xa")
METHODS = ("truc_tiep", "truc_tuyen", "buu_chinh")
ONLINE_MODES = ("toan_trinh", "mot_phan", "khong")
# Fields a record may list under ``unverified``.
UNVERIFIABLE_FIELDS = ("code", "agency", "level", "fee", "duration", "papers", "legal_basis", "steps", "submit")

METHOD_LABELS = {"truc_tiep": "trực tiếp", "truc_tuyen": "trực tuyến", "buu_chinh": "qua bưu chính"}


@dataclass(frozen=True)
class Channel:
    """One way of submitting (Cách thức thực hiện): time limit and fee for that way."""

    method: str  # one of METHODS
    duration: str  # as a citizen reads it, e.g. "08 ngày làm việc"
    working_days: int | None  # None when not a count of working days ("trong ngày")
    fee: str  # as a citizen reads it
    fee_vnd: int | None  # main amount in đồng; 0 = free; None = set by the province or no single amount
    description: str = ""


@dataclass(frozen=True)
class Paper:
    """One paper of the dossier (Thành phần hồ sơ)."""

    name: str
    originals: int  # bản chính
    copies: int  # bản sao
    form: str | None = None  # form code such as "TK01"
    note: str = ""

    def quantity(self) -> str:
        """"1 bản chính và 2 bản sao" (empty when the paper is only shown)."""
        return quantity_text(self.originals, self.copies)


def quantity_text(originals: int, copies: int) -> str:
    """How many originals (bản chính) and copies (bản sao) to bring, in Vietnamese."""
    parts = [f"{originals} bản chính"] if originals else []
    if copies:
        parts.append(f"{copies} bản sao")
    return " và ".join(parts)


@dataclass(frozen=True)
class PaperGroup:
    """The papers needed in one case (trường hợp)."""

    case: str
    items: tuple[Paper, ...]


@dataclass(frozen=True)
class LegalDoc:
    """One row of Căn cứ pháp lý."""

    number: str  # số ký hiệu, e.g. "49/2019/QH14"
    title: str  # trích yếu
    issued: dt.date | None
    issuer: str


@dataclass(frozen=True)
class Source:
    """Where the record's data comes from (a law, a portal page, a news page)."""

    title: str
    url: str | None


@dataclass(frozen=True)
class Submit:
    """Where and how a citizen submits the dossier."""

    where: str  # in person
    online: str  # one of ONLINE_MODES
    online_url: str | None
    post: bool


@dataclass(frozen=True)
class Procedure:
    """One administrative procedure (thủ tục hành chính)."""

    id: str
    code: str | None
    name: str
    short_name: str
    field: str
    level: tuple[str, ...]
    agency: str
    aliases: tuple[str, ...]
    steps: tuple[str, ...]
    channels: tuple[Channel, ...]
    papers: tuple[PaperGroup, ...]
    subjects: str
    result: str
    conditions: str
    legal_basis: tuple[LegalDoc, ...]
    submit: Submit
    sources: tuple[Source, ...]
    checked_on: dt.date
    unverified: tuple[str, ...]
    # National codes of the imported records this hand-written record answers for besides its own
    # code (the same procedure split by age or level in the national database: "Cấp thẻ căn cước cho
    # người dưới 14 tuổi" is a case of can-cuoc). Those imported records are left out of the
    # catalogue; their names still lead the retrieval here.
    covers: tuple[str, ...] = ()

    def is_unverified(self, field: str) -> bool:
        """Whether ``field`` (one of UNVERIFIABLE_FIELDS) is marked as not verified."""
        if field not in UNVERIFIABLE_FIELDS:
            raise ValueError(f"unknown field {field!r}; expected one of {', '.join(UNVERIFIABLE_FIELDS)}")
        return field in self.unverified

    def channel(self, method: str) -> Channel | None:
        """The channel for ``method`` (one of METHODS), if the procedure offers it."""
        return next((c for c in self.channels if c.method == method), None)

    def fee_summary(self) -> str:
        """The fee in one line, per channel when channels differ."""
        return _capitalize("; ".join(self._channel_values("fee")))

    def duration_summary(self) -> str:
        """The time limit in one line, per channel when channels differ."""
        return _capitalize("; ".join(self._channel_values("duration")))

    def per_channel(self, attribute: str) -> list[str]:
        """["X"] when every channel says X, else ["Trực tiếp, qua bưu chính: X", "Trực tuyến: Y"]."""
        return [_capitalize(line) for line in self._channel_values(attribute)]

    def _channel_values(self, attribute: str) -> list[str]:
        groups: dict[str, list[str]] = {}
        for channel in self.channels:
            groups.setdefault(getattr(channel, attribute), []).append(METHOD_LABELS[channel.method])
        if len(groups) == 1:
            return [next(iter(groups))]
        return [f"{', '.join(methods)}: {value}" for value, methods in groups.items()]

    def working_days(self) -> int | None:
        """Working days to settle: the in-person channel's, else the first channel that has a count."""
        direct = self.channel("truc_tiep")
        if direct is not None and direct.working_days is not None:
            return direct.working_days
        return next((c.working_days for c in self.channels if c.working_days is not None), None)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


# How an answer from a record imported from the national database says where it comes from.
NATIONAL_SOURCE = "Nguồn: Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã {code}, bản ngày {date}."
NOT_CHECKED = "Thông tin lấy từ cơ sở dữ liệu quốc gia, thành phố chưa kiểm tra lại; bạn nên hỏi lại nơi tiếp nhận hồ sơ."


def portal_link(procedure: Procedure) -> str | None:
    """The record's page on the national portal (or its first source with a link)."""
    return next((src.url for src in procedure.sources if src.url), None) or procedure.submit.online_url


def national_source(procedure: Procedure) -> list[str]:
    """The source lines of an imported record: the database, its code and date, the link, not checked."""
    lines = [NATIONAL_SOURCE.format(code=procedure.code, date=procedure.checked_on.strftime("%d/%m/%Y"))]
    link = portal_link(procedure)
    if link:
        lines.append(link)
    lines.append(NOT_CHECKED)
    return lines

"""Vietnamese reply texts built from catalogue records. Pure functions, no I/O.

Every answer ends with where it comes from (legal basis) and when the record was
checked, and says so when a value has not been verified. An answer from a record imported
from the national database (pass the ``catalogue`` to ``answer_text``) ends with
"Nguồn: Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã …, bản ngày …", the portal link and
a line saying that the city has not checked it yet; a field with a quality flag of the
import that the answer shows gets a short warning line.

Every answer fits in ``MAX_CHARS`` characters, the strictest channel's limit (Zalo: 2,000
characters a message; Telegram: 4,096): long lists keep their first items and end with
"Xem đầy đủ" and the portal link.
"""

from __future__ import annotations

import json
import re
from typing import Iterable

from procedures.model import NOT_CHECKED, national_source, portal_link  # noqa: F401  (re-exported for the actions)

LEVEL_LABELS = {"bo": "cấp Bộ (trung ương)", "tinh": "cấp tỉnh", "xa": "cấp xã"}
ONLINE_LABELS = {"toan_trinh": "trực tuyến toàn trình", "mot_phan": "trực tuyến một phần", "khong": ""}
UNVERIFIED_NOTE = "⚠️ Thông tin có đánh dấu (chưa xác minh) chưa được kiểm chứng với văn bản chính thức, bạn nên hỏi lại nơi tiếp nhận hồ sơ."
TOPICS = {
    "ask_papers": "Giấy tờ cần chuẩn bị",
    "ask_fee": "Lệ phí",
    "ask_duration": "Thời gian giải quyết",
    "ask_where": "Nộp ở đâu",
    "ask_how": "Cách làm",
}


def payload(intent: str, procedure_id: str | None = None) -> str:
    """A Rasa button payload such as ``/ask_fee{"procedure":"ho-chieu"}``."""
    if procedure_id is None:
        return f"/{intent}"
    return f"/{intent}" + json.dumps({"procedure": procedure_id}, separators=(",", ":"))


def button(title: str, intent: str, procedure_id: str | None = None) -> dict:
    return {"title": title, "payload": payload(intent, procedure_id)}


def procedure_buttons(procedures: Iterable, intent: str = "ask_procedure") -> list[dict]:
    """One button per procedure, titled with the way citizens say it (or a short official name)."""
    from procedures.retrieval import readable_names

    procedures = list(procedures)
    return [button(title, intent, p.id) for title, p in zip(readable_names(procedures), procedures)]


# After the procedures offered when the bot asks which one.
NONE_OF_THESE_BUTTON = {"title": "Không phải các thủ tục trên", "payload": "/none_of_these"}


def topic_buttons(procedure, exclude: str | None = None) -> list[dict]:
    """Follow-up questions about the same procedure, plus starting a draft dossier."""
    buttons = [button(title, intent, procedure.id) for intent, title in TOPICS.items() if intent != exclude]
    buttons.append(button("Tạo hồ sơ nháp", "start_dossier", procedure.id))
    return buttons


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


UNVERIFIED = " (chưa xác minh)"


def _mark(procedure, field: str) -> str:
    return UNVERIFIED if procedure.is_unverified(field) else ""


MAX_CHARS = 2000
MAX_LINE_CHARS = 300
# Warnings for the quality flags of an import (procedures.importer), by flag name.
FLAG_WARNINGS = {
    "expired_fee_note": "⚠️ Ghi chú về lệ phí trong nguồn đã hết hiệu lực, mức thu hiện nay có thể khác.",
    "district_level": "⚠️ Nguồn còn nhắc cấp huyện, cấp này đã bỏ từ 01/07/2025: nay do cấp xã hoặc cấp tỉnh giải quyết.",
    "no_agency": "⚠️ Nguồn không ghi cơ quan thực hiện.",
    "agency_from_authority": "⚠️ Nguồn không ghi cơ quan thực hiện; đây là cơ quan có thẩm quyền quyết định.",
    "no_papers": "⚠️ Nguồn không ghi thành phần hồ sơ.",
}
# The record fields each answer shows (for the flags "<name>:<field>" and the flags of one field).
FIELDS_SHOWN = {
    "ask_papers": {"papers"}, "ask_fee": {"channels", "fee"}, "ask_duration": {"channels"},
    "ask_where": {"agency", "level", "submit"}, "ask_how": {"steps", "submit"},
    "ask_procedure": {"name", "agency", "channels", "fee", "conditions"},
}
_FLAG_FIELDS = {"no_agency": "agency", "agency_from_authority": "agency", "no_papers": "papers",
                "expired_fee_note": "fee"}


def flag_warnings(flags: Iterable[str], intent: str) -> list[str]:
    """Short warning lines for the flags that concern what the answer to ``intent`` shows."""
    shown = FIELDS_SHOWN.get(intent, FIELDS_SHOWN["ask_procedure"])
    lines = []
    for flag in flags:
        name, _, field = flag.partition(":")
        field = _FLAG_FIELDS.get(name, field)
        if name == "expired_fee_note" and "fee" not in shown:
            continue
        if name in FLAG_WARNINGS and field in shown and FLAG_WARNINGS[name] not in lines:
            lines.append(FLAG_WARNINGS[name])
    return lines


def fit(body: str, tail: str, link: str | None, limit: int = MAX_CHARS) -> str:
    """``body`` + ``tail`` within ``limit`` characters: long lines cut, last lines of the body
    dropped for "… Xem đầy đủ: <link>" when needed. ``tail`` (source, warnings) is always kept."""
    lines = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS - 1].rstrip() + "…"
             for line in body.split("\n")]
    more = f"… Xem đầy đủ: {link}" if link else "… (còn nữa, bạn hỏi nơi tiếp nhận hồ sơ để biết đầy đủ)"

    def text(kept: list[str], cut: bool) -> str:
        return "\n".join(kept + ([more] if cut else [])) + "\n\n" + tail

    if len(text(lines, False)) <= limit:
        return text(lines, False)
    kept = list(lines)
    while kept and len(text(kept, True)) > limit:
        kept.pop()
    return text(kept, True)[:limit]


def _with_footer(procedure, body: str, context=None, intent: str = "ask_procedure") -> str:
    """``body`` with the footer, the flag warnings of an imported record, within MAX_CHARS."""
    tail = [footer(procedure, body)]
    link = None
    if context is not None and context.is_imported(procedure.id):
        tail += flag_warnings(context.flags(procedure.id), intent)
        tail += national_source(procedure)
        link = portal_link(procedure)
    return fit(body, "\n".join(tail), link)


# The list marks and the colon the portal's pages put around a case or a paper ("* Giấy tờ phải nộp:",
# "- Tờ khai …"): the answer numbers the papers and adds its own colon.
_LIST_MARK = re.compile(r"^[\s*•+\-–]+")


def _plain_item(text: str) -> str:
    return _LIST_MARK.sub("", text).rstrip(" :") or text


def _paper_line(number: int, paper) -> str:
    line = f"{number}. {_plain_item(paper.name)}"
    if paper.form:
        line += f" (mẫu {paper.form})"
    count = paper.quantity()
    if count:
        line += f" — {count}"
    if paper.note:
        line += f". {paper.note}"
    return line


_DOC_KINDS = ("Luật", "Nghị định", "Thông tư", "Quyết định", "Nghị quyết", "Pháp lệnh")


def short_reference(doc) -> str:
    """A legal document as citizens see it cited: "Thông tư 31/2023/TT-BCA"."""
    kind = next((k for k in _DOC_KINDS if doc.title.startswith(k)), "")
    return f"{kind} {doc.number}".strip() if doc.number else doc.title


def footer(procedure, body: str = "") -> str:
    """Where the answer comes from and when it was checked (and a warning if ``body`` has unverified values)."""
    basis = "; ".join(short_reference(doc) for doc in procedure.legal_basis[:3])
    checked = procedure.checked_on.strftime("%d/%m/%Y") if procedure.checked_on else "không rõ"
    lines = []
    if basis:
        lines.append(f"Căn cứ: {basis}.")
    lines.append(f"Cập nhật ngày {checked}.")
    if UNVERIFIED in body:
        lines.append(UNVERIFIED_NOTE)
    return "\n".join(lines)


def papers_text(procedure, context=None) -> str:
    lines = [f"Giấy tờ cần chuẩn bị — {procedure.name}{_mark(procedure, 'papers')}:"]
    for group in procedure.papers:
        if len(procedure.papers) > 1 or group.case:
            lines.append(f"\n• {_plain_item(group.case)}:")
        lines.extend(_paper_line(i, p) for i, p in enumerate(group.items, 1))
    return _with_footer(procedure, "\n".join(lines), context, "ask_papers")


def fee_text(procedure, context=None) -> str:
    lines = [f"Lệ phí — {procedure.name}{_mark(procedure, 'fee')}:"]
    lines += [f"• {line}" for line in procedure.per_channel("fee")]
    return _with_footer(procedure, "\n".join(lines), context, "ask_fee")


def duration_text(procedure, context=None) -> str:
    lines = [f"Thời gian giải quyết — {procedure.name}{_mark(procedure, 'duration')}:"]
    lines += [f"• {line}" for line in procedure.per_channel("duration")]
    return _with_footer(procedure, "\n".join(lines), context, "ask_duration")


def level_text(procedure) -> str:
    levels = procedure.level if isinstance(procedure.level, (list, tuple)) else [procedure.level]
    return ", ".join(LEVEL_LABELS.get(level, level) for level in levels)


def submit_ways(procedure) -> list[str]:
    """How the dossier can be submitted: in person, online (with link), by post."""
    submit = procedure.submit
    ways = []
    if submit.where:
        ways.append(f"Trực tiếp: {submit.where}")
    online = ONLINE_LABELS.get(submit.online, "")
    if online:
        link = f" tại {submit.online_url}" if submit.online_url else ""
        ways.append(f"Nộp {online}{link} (Cổng Dịch vụ công quốc gia, VNeID)")
    if submit.post:
        ways.append("Gửi qua dịch vụ bưu chính")
    return ways


def where_text(procedure, context=None) -> str:
    lines = [
        f"Nơi giải quyết — {procedure.name}{_mark(procedure, 'agency')}:",
        f"• Cơ quan: {procedure.agency or 'nguồn không ghi'} ({level_text(procedure) or 'không rõ cấp'})",
    ]
    lines += [f"• {way}" for way in submit_ways(procedure)]
    return _with_footer(procedure, "\n".join(lines), context, "ask_where")


def how_text(procedure, context=None) -> str:
    lines = [f"Cách làm — {procedure.name}{_mark(procedure, 'steps')}:"]
    lines += [f"{i}. {step}" for i, step in enumerate(procedure.steps, 1)]
    lines.append("\nCách nộp:")
    lines += [f"• {way}" for way in submit_ways(procedure)]
    return _with_footer(procedure, "\n".join(lines), context, "ask_how")


def overview_text(procedure, context=None) -> str:
    code = f" (mã {procedure.code}{_mark(procedure, 'code')})" if procedure.code else ""
    lines = [
        f"{procedure.name}{code}",
        f"• Cơ quan giải quyết: {procedure.agency} ({level_text(procedure)})",
        f"• Lệ phí: {procedure.fee_summary()}{_mark(procedure, 'fee')}",
        f"• Thời gian: {procedure.duration_summary()}{_mark(procedure, 'duration')}",
    ]
    if procedure.conditions:
        lines.append(f"• Điều kiện: {procedure.conditions}")
    lines.append("\nBạn muốn biết thêm gì?")
    return _with_footer(procedure, "\n".join(lines), context, "ask_procedure")


ANSWERS = {
    "ask_papers": papers_text,
    "ask_fee": fee_text,
    "ask_duration": duration_text,
    "ask_where": where_text,
    "ask_how": how_text,
    "ask_procedure": overview_text,
}


def answer_text(intent: str, procedure, context=None) -> str:
    """The answer to ``intent`` about ``procedure`` (an overview for anything else).

    ``context``: the catalogue (``is_imported``, ``flags``), for the source of imported records."""
    return ANSWERS.get(intent, overview_text)(procedure, context)

"""Vietnamese reply texts built from catalogue records. Pure functions, no I/O.

Every answer ends with where it comes from (legal basis) and when the record was
checked, and says so when a value has not been verified.
"""

from __future__ import annotations

import json
from typing import Iterable

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
    """One button per procedure, titled with the way citizens say it."""
    return [button(_capitalize(p.short_name), intent, p.id) for p in procedures]


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


def _with_footer(procedure, body: str) -> str:
    return body + "\n\n" + footer(procedure, body)


def _paper_line(number: int, paper) -> str:
    line = f"{number}. {paper.name}"
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


def papers_text(procedure) -> str:
    lines = [f"Giấy tờ cần chuẩn bị — {procedure.name}{_mark(procedure, 'papers')}:"]
    for group in procedure.papers:
        if len(procedure.papers) > 1 or group.case:
            lines.append(f"\n• {group.case}:")
        lines.extend(_paper_line(i, p) for i, p in enumerate(group.items, 1))
    return _with_footer(procedure, "\n".join(lines))


def fee_text(procedure) -> str:
    lines = [f"Lệ phí — {procedure.name}{_mark(procedure, 'fee')}:"]
    lines += [f"• {line}" for line in procedure.per_channel("fee")]
    return _with_footer(procedure, "\n".join(lines))


def duration_text(procedure) -> str:
    lines = [f"Thời gian giải quyết — {procedure.name}{_mark(procedure, 'duration')}:"]
    lines += [f"• {line}" for line in procedure.per_channel("duration")]
    return _with_footer(procedure, "\n".join(lines))


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


def where_text(procedure) -> str:
    lines = [
        f"Nơi giải quyết — {procedure.name}{_mark(procedure, 'agency')}:",
        f"• Cơ quan: {procedure.agency} ({level_text(procedure)})",
    ]
    lines += [f"• {way}" for way in submit_ways(procedure)]
    return _with_footer(procedure, "\n".join(lines))


def how_text(procedure) -> str:
    lines = [f"Cách làm — {procedure.name}{_mark(procedure, 'steps')}:"]
    lines += [f"{i}. {step}" for i, step in enumerate(procedure.steps, 1)]
    lines.append("\nCách nộp:")
    lines += [f"• {way}" for way in submit_ways(procedure)]
    return _with_footer(procedure, "\n".join(lines))


def overview_text(procedure) -> str:
    code = f" (mã {procedure.code}{_mark(procedure, 'code')})" if procedure.code else ""
    lines = [
        f"{procedure.name}{code}",
        f"• Cơ quan giải quyết: {procedure.agency} ({level_text(procedure)})",
        f"• Lệ phí: {procedure.fee_summary()}{_mark(procedure, 'fee')}",
        f"• Thời gian: {procedure.duration_summary()}{_mark(procedure, 'duration')}",
    ]
    if procedure.conditions:
        lines.append(f"• Điều kiện: {procedure.conditions}")
    return _with_footer(procedure, "\n".join(lines)) + "\n\nBạn muốn biết thêm gì?"


ANSWERS = {
    "ask_papers": papers_text,
    "ask_fee": fee_text,
    "ask_duration": duration_text,
    "ask_where": where_text,
    "ask_how": how_text,
    "ask_procedure": overview_text,
}


def answer_text(intent: str, procedure) -> str:
    """The answer to ``intent`` about ``procedure`` (an overview for anything else)."""
    return ANSWERS.get(intent, overview_text)(procedure)

"""PDF of a filled form, laid out like the paper form (fpdf2 + DejaVu Sans for diacritics).

``render_pdf(form, answers, dossier_code)`` → bytes. Values are printed in full (the PDF is
what the citizen prints and signs); it is served only through expiring links (``tokens``).
Layout: national motto, form code and legal basis, photo box, title, "Kính gửi", the fields
in form order (numbered as on the paper form; ``pdf.inline`` fields continue the line;
fields that do not apply to this case print blank, as the citizen would leave them),
tables for two-party forms, declaration, place/date line, signature blocks, footnotes and,
optionally, the checklist of papers on a last page.

``render_checklist_pdf(procedure, answers, dossier_code, items)``: the printed checklist of a
generic draft (procedures without a form of their own): the procedure and its national code,
the dossier code, the applicant's contact, the case, the papers with originals and copies,
where to submit and, for a record imported from the national database, its source.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from fpdf import FPDF

from bot import clock

from . import conditions
from .forms import Field, Form, Section

__all__ = ["render_pdf", "render_checklist_pdf", "font_paths", "date_in_words", "number_in_words", "FontMissing"]

FONT_DIR = Path(os.environ.get("DEJAVU_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))
FONT = "DejaVu"
CHECKED, UNCHECKED = "☒", "☐"
BLANK = "…………………"
LINE_H = 5.9


class FontMissing(RuntimeError):
    """DejaVu Sans is not installed."""


def font_paths() -> tuple[Path, Path]:
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    for path in (regular, bold):
        if not path.is_file():
            raise FontMissing(f"{path} not found: install it with `apt-get install -y fonts-dejavu-core` "
                              "or set DEJAVU_FONT_DIR")
    return regular, bold


# --- numbers and dates in Vietnamese words (for "ghi bằng chữ") -----------------------------

_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def _below_100(n: int) -> str:
    if n < 10:
        return _DIGITS[n]
    tens, unit = divmod(n, 10)
    head = "mười" if tens == 1 else f"{_DIGITS[tens]} mươi"
    if unit == 0:
        return head
    if unit == 1 and tens > 1:
        return f"{head} mốt"
    if unit == 4 and tens > 1:
        return f"{head} tư"
    if unit == 5:
        return f"{head} lăm"
    return f"{head} {_DIGITS[unit]}"


def _below_1000(n: int, full: bool) -> str:
    hundreds, rest = divmod(n, 100)
    if not full and hundreds == 0:
        return _below_100(rest)
    text = f"{_DIGITS[hundreds]} trăm"
    if rest == 0:
        return text
    if rest < 10:
        return f"{text} linh {_DIGITS[rest]}"
    return f"{text} {_below_100(rest)}"


def number_in_words(n: int) -> str:
    """0 ≤ n < 10 000: 2025 → "hai nghìn không trăm hai mươi lăm"."""
    if not 0 <= n < 10000:
        raise ValueError(n)
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return _below_1000(rest, full=False)
    text = f"{_DIGITS[thousands]} nghìn"
    return text if rest == 0 else f"{text} {_below_1000(rest, full=True)}"


def date_in_words(day: dt.date) -> str:
    """date(2025, 1, 5) → "Ngày năm, tháng một, năm hai nghìn không trăm hai mươi lăm"."""
    month = "tư" if day.month == 4 else number_in_words(day.month)
    return (f"Ngày {number_in_words(day.day)}, tháng {month}, "
            f"năm {number_in_words(day.year)}")


# --- the document --------------------------------------------------------------------------

class _Doc(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(format="A4")
        self._footer_text = footer_text
        regular, bold = font_paths()
        self.add_font(FONT, "", str(regular))
        self.add_font(FONT, "B", str(bold))
        self.set_margins(20, 15, 15)
        self.set_auto_page_break(True, margin=18)

    def footer(self):
        self.set_y(-13)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(90)
        self.cell(0, 5, f"{self._footer_text} — trang {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def text_line(self, text: str, size: float = 10.5, bold: bool = False, align: str = "L",
                  h: float = LINE_H) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, h, text, align=align, new_x="LMARGIN", new_y="NEXT")


def _value_text(f: Field, answers: Mapping[str, Any]) -> str:
    value = answers.get(f.key)
    if f.pdf.get("checkboxes"):
        options = f.choices if f.pdf["checkboxes"] is True else f.pdf["checkboxes"]
        return "   ".join(f"{o} {CHECKED if value == o else UNCHECKED}" for o in options)
    shown = f.display(value, masked=False)
    if not shown:
        return BLANK
    return shown.upper() if f.pdf.get("upper") else shown


def _write_field(doc: _Doc, f: Field, answers: Mapping[str, Any], inline: bool, indent: bool) -> None:
    number = f.pdf.get("number")
    label = f.pdf.get("label", f.label)
    doc.set_font(FONT, "", 10.5)
    if inline:
        doc.write(LINE_H, "     " if number else "; ")
    elif indent:
        doc.set_x(doc.l_margin + 5)
    prefix = f"{number}. " if number else ""
    doc.write(LINE_H, f"{prefix}{label}: ")
    # Checkbox lines stay regular: the tick shows the answer.
    doc.set_font(FONT, "" if f.pdf.get("checkboxes") else "B", 10.5)
    doc.write(LINE_H, _value_text(f, answers))
    if f.pdf.get("in_words") and answers.get(f.key):
        doc.ln(LINE_H)
        doc.set_font(FONT, "", 10.5)
        doc.write(LINE_H, "Ghi bằng chữ: ")
        doc.set_font(FONT, "B", 10.5)
        doc.write(LINE_H, date_in_words(dt.date.fromisoformat(str(answers[f.key]))))


def _header(doc: _Doc, form: Form, dossier_code: str) -> None:
    doc.set_font(FONT, "", 8)
    doc.cell(80, 4, f"Mã hồ sơ: {dossier_code}")
    doc.multi_cell(0, 4, form.legal_basis, align="R", new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    doc.text_line("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 11.5, bold=True, align="C")
    doc.text_line("Độc lập - Tự do - Hạnh phúc", 11, bold=True, align="C")
    mid = doc.l_margin + (doc.w - doc.l_margin - doc.r_margin) / 2
    doc.line(mid - 27, doc.get_y() + 0.5, mid + 27, doc.get_y() + 0.5)
    doc.ln(5)
    top = doc.get_y()
    left = doc.l_margin
    if form.photo:
        doc.rect(left, top, 30, 40)
        doc.set_xy(left + 1.5, top + 8)
        doc.set_font(FONT, "", 6.5)
        doc.multi_cell(27, 3.2, form.photo, align="C")
        doc.set_left_margin(left + 35)
        doc.set_xy(left + 35, top + 6)
    doc.text_line(form.title, 13, bold=True, align="C", h=7)
    if form.subtitle:
        doc.text_line(form.subtitle, 10, align="C")
    if form.code:
        doc.text_line(f"(Mẫu {form.code})", 9, align="C")
    if form.photo:
        doc.set_left_margin(left)
        doc.set_xy(left, max(doc.get_y(), top + 42))
    doc.ln(3)


def _addressee(doc: _Doc, form: Form, answers: Mapping[str, Any]) -> None:
    if not form.addressee_field:
        return
    f = form.field(form.addressee_field)
    doc.set_font(FONT, "B", 11)
    doc.write(LINE_H, "Kính gửi: ")
    doc.set_font(FONT, "", 11)
    doc.write(LINE_H, _value_text(f, answers))
    doc.ln(LINE_H + 2)


def _table(doc: _Doc, table: dict, form: Form, answers: Mapping[str, Any]) -> None:
    doc.set_font(FONT, "", 10)
    with doc.table(col_widths=(50, 62, 62), line_height=5.5, text_align="LEFT") as t:
        head = t.row()
        doc.set_font(FONT, "B", 10)
        for text in ["Thông tin", *table["columns"]]:
            head.cell(text, align="C")
        doc.set_font(FONT, "", 10)
        for row_def in table["rows"]:
            row = t.row()
            row.cell(row_def["label"])
            for key in row_def["fields"]:
                row.cell(_value_text(form.field(key), answers))
    doc.ln(3)


def _section(doc: _Doc, section: Section, form: Form, answers: Mapping[str, Any],
             in_tables: set[str], today: dt.date) -> None:
    if section.pdf_table:
        _table(doc, section.pdf_table, form, answers)
        return
    # A field that does not apply keeps its (blank) line, as on the paper form, unless it
    # only continues another line.
    printable = []
    for f in section.fields:
        if f.key in in_tables or f.key == form.addressee_field or f.pdf.get("hidden"):
            continue
        if conditions.evaluate(f.when, answers, today):
            printable.append(f)
        elif not f.pdf.get("inline"):
            printable.append(f)
            answers = {k: v for k, v in answers.items() if k != f.key}
    if not printable:
        return
    if section.title:
        doc.ln(1)
        doc.text_line(section.title, 10.5, bold=True)
    numbered = any(f.pdf.get("number") for f in printable)
    for i, f in enumerate(printable):
        inline = bool(f.pdf.get("inline")) and i > 0
        if i > 0 and not inline:
            doc.ln(LINE_H)
        _write_field(doc, f, answers, inline, indent=numbered and not f.pdf.get("number"))
    doc.ln(LINE_H + 1)


def _signatures(doc: _Doc, form: Form, answers: Mapping[str, Any], today: dt.date) -> None:
    blocks = [s for s in form.signatures if conditions.evaluate(s.when, answers, today)]
    doc.ln(2)
    doc.set_font(FONT, "", 10.5)
    doc.multi_cell(0, LINE_H, "……………, ngày …… tháng …… năm ………", align="R",
                   new_x="LMARGIN", new_y="NEXT")
    width = (doc.w - doc.l_margin - doc.r_margin) / 2
    rows = [blocks[i:i + 2] for i in range(0, len(blocks), 2)]
    for row in rows:
        if len(row) == 1:
            row = [None, row[0]]   # a single signature sits on the right, as on paper
        if doc.get_y() > doc.h - 60:
            doc.add_page()
        top = doc.get_y() + 2
        for col, sig in enumerate(row):
            if sig is None:
                continue
            x = doc.l_margin + col * width
            doc.set_xy(x, top)
            doc.set_font(FONT, "B", 10.5)
            doc.multi_cell(width, 5.5, sig.title.upper(), align="C", new_x="LEFT", new_y="NEXT")
            doc.set_font(FONT, "", 9)
            doc.multi_cell(width, 5, sig.hint, align="C", new_x="LEFT", new_y="NEXT")
            name = answers.get(sig.name_field) if sig.name_field else None
            doc.set_xy(x, top + 28)
            doc.set_font(FONT, "B", 10.5)
            doc.multi_cell(width, 5.5, name or "", align="C")
        doc.set_xy(doc.l_margin, top + 36)


def _notes(doc: _Doc, form: Form) -> None:
    if not form.notes:
        return
    if doc.get_y() + 4.5 * (len(form.notes) + 1) + 10 > doc.page_break_trigger:
        doc.add_page()
    doc.ln(4)
    doc.text_line("Ghi chú:", 8.5, bold=True, h=4.5)
    for note in form.notes:
        doc.text_line(note, 8.5, h=4.5)


def _checklist_page(doc: _Doc, items: Iterable) -> None:
    doc.add_page()
    doc.text_line("DANH MỤC GIẤY TỜ CẦN CHUẨN BỊ", 13, bold=True, align="C", h=8)
    doc.ln(2)
    for n, item in enumerate(items, 1):
        head = f"{n}. {item.name}" + (f" (mẫu {item.form})" if item.form else "")
        if not item.certain:
            head += f" — nếu thuộc trường hợp “{item.case}”"
        doc.text_line(head, 10.5, bold=True)
        detail = item.quantity() + (f". {item.note}" if item.note else "")
        doc.text_line(detail, 9.5)
        doc.ln(1)


def render_pdf(form: Form, answers: Mapping[str, Any], dossier_code: str,
               checklist_items: Optional[Iterable] = None, today: Optional[dt.date] = None) -> bytes:
    """The filled form as PDF bytes; ``checklist_items`` (from ``checklist()``) add a last page."""
    today = today or clock.today()
    doc = _Doc(f"Mã hồ sơ {dossier_code} · Bản khai do trợ lý thủ tục hành chính điền sẵn; "
               "người khai kiểm tra lại trước khi ký")
    doc.set_title(f"{form.title} - {dossier_code}")
    doc.set_creator("bot.dossiers")
    doc.set_creation_date(clock.now())      # Vietnam's time, and frozen with the clock in tests
    doc.alias_nb_pages()
    doc.add_page()
    _header(doc, form, dossier_code)
    _addressee(doc, form, answers)
    in_tables = {k for s in form.sections if s.pdf_table for r in s.pdf_table["rows"] for k in r["fields"]}
    for section in form.sections:
        _section(doc, section, form, answers, in_tables, today)
    if form.declaration:
        doc.ln(1)
        doc.text_line(" ".join(form.declaration.split()), 10.5)
    _signatures(doc, form, answers, today)
    _notes(doc, form)
    if checklist_items:
        _checklist_page(doc, checklist_items)
    return bytes(doc.output())


def render_checklist_pdf(procedure, answers: Mapping[str, Any], dossier_code: str, items: Iterable,
                         source: Optional[str] = None, today: Optional[dt.date] = None) -> bytes:
    """The checklist of a generic draft as PDF bytes (see the module docstring).

    ``source``: the lines that say where an imported record comes from (printed at the end)."""
    from .checklist import is_note

    today = today or clock.today()
    doc = _Doc(f"Mã hồ sơ {dossier_code} · Phiếu do trợ lý thủ tục hành chính lập; "
               "kiểm tra lại với nơi tiếp nhận hồ sơ")
    doc.set_title(f"Phiếu kiểm tra hồ sơ - {dossier_code}")
    doc.set_creator("bot.dossiers")
    doc.set_creation_date(clock.now())
    doc.alias_nb_pages()
    doc.add_page()
    doc.text_line("PHIẾU KIỂM TRA HỒ SƠ", 14, bold=True, align="C", h=8)
    doc.text_line(procedure.name, 11.5, bold=True, align="C")
    if procedure.code:
        doc.text_line(f"Mã thủ tục: {procedure.code}", 10, align="C")
    doc.ln(3)
    doc.text_line(f"Mã hồ sơ: {dossier_code}   ·   Ngày lập: {today.strftime('%d/%m/%Y')}", 10.5)
    for label, key in (("Người làm thủ tục", "full_name"), ("Số điện thoại", "phone"), ("Trường hợp", "case"),
                       ("Ghi chú", "note")):
        if answers.get(key):
            doc.text_line(f"{label}: {answers[key]}", 10.5)
    doc.ln(2)
    items = list(items)
    papers = [i for i in items if not is_note(i)]
    doc.text_line("GIẤY TỜ CẦN CHUẨN BỊ", 12, bold=True, h=7)
    for n, item in enumerate(papers, 1):
        head = f"{n}. {' '.join(item.name.split()).rstrip(' ;,.:')}" + (f" (mẫu {item.form})" if item.form else "")
        if not item.certain:
            head += f" — nếu thuộc trường hợp “{item.case}”"
        doc.text_line(head, 10)
        doc.text_line(f"{UNCHECKED} {item.quantity()}" + (f". {item.note}" if item.note else ""), 9.5)
        doc.ln(0.5)
    notes = [i for i in items if is_note(i)]
    if notes:
        doc.ln(1)
        doc.text_line("Lưu ý", 10.5, bold=True)
        for note in notes:
            doc.text_line(" ".join(note.name.split()).lstrip("* "), 9.5)
    where = procedure.submit.where or procedure.agency
    if where:
        doc.ln(2)
        doc.text_line(f"Nơi nộp: {where}", 10.5)
    if source:
        doc.ln(2)
        for line in source.splitlines():
            doc.text_line(line, 8.5, h=4.5)
    return bytes(doc.output())

"""The generic draft (lien-he.yml): every procedure without a form of its own gets a draft with the
applicant's contact, the case that applies, the checklist of that case and a printed checklist."""

import datetime as dt
import textwrap

import pytest

from bot.dossiers.checklist import checklist, format_checklist
from bot.dossiers.forms import (
    FormDefinitionError,
    FormSession,
    default_forms,
    load_form,
)
from bot.dossiers.validators import FieldError
from procedures import default_catalogue

TODAY = dt.date(2026, 2, 12)
WITH_OWN_FORM = {"ho-chieu", "khai-sinh", "ket-hon", "tam-tru", "thuong-tru"}


def without_own_form():
    """The hand-written procedures without a form of their own (the imported ones: tests below)."""
    return [p.id for p in default_catalogue().hand_written() if p.id not in WITH_OWN_FORM]


def one_case(proc_id):
    return len(default_catalogue().get(proc_id).papers) < 2


def test_generic_form_asks_contact_and_case_and_is_not_printed_itself():
    form = default_forms()["lien-he"]
    assert form.is_generic and not form.has_pdf and form.code is None
    assert [f.key for f in form.fields] == ["full_name", "phone", "case", "note"]
    assert [f.required for f in form.fields] == [True, True, True, False]
    assert form.field("case").choices_from == "paper_groups" and form.field("case").choices == ()
    assert all(f.has_pdf for f in default_forms().values() if not f.is_generic)


@pytest.mark.parametrize("proc", without_own_form())
def test_every_procedure_without_a_form_gets_the_generic_draft(proc):
    s = FormSession(proc, today=TODAY)
    assert [f.id for f in s.forms] == ["lien-he"]
    replies = {"full_name": "nguyễn văn an", "phone": "0912 345 678", "case": "1", "note": "bỏ qua"}
    answers = {}
    while (field := s.next_field(answers)) is not None:
        answers = s.apply_answer(field.key, replies[field.key], answers)
    expected = {"full_name": "Nguyễn Văn An", "phone": "0912345678", "note": None}
    assert {k: v for k, v in answers.items() if k != "case"} == expected
    assert ("case" in answers) == (not one_case(proc))
    assert "0912***678" in s.summary(answers) and "0912345678" not in s.summary(answers)


def test_a_procedure_with_its_own_form_does_not_get_the_generic_one():
    for proc in WITH_OWN_FORM:
        assert "lien-he" not in [f.id for f in FormSession(proc, today=TODAY).forms]


def test_without_a_generic_form_an_unknown_procedure_still_has_no_session():
    forms = {k: v for k, v in default_forms().items() if not v.is_generic}
    with pytest.raises(KeyError):
        FormSession("doi-gplx", forms=forms)


def test_checklist_lists_the_papers_of_the_case_the_citizen_chose():
    catalogue = default_catalogue()
    for proc_id in without_own_form():
        proc = catalogue.get(proc_id)
        answers = {"full_name": "Nguyễn Văn An", "phone": "0912345678"}
        if not one_case(proc_id):
            answers["case"] = FormSession(proc_id).field("case", answers).choices[-1]
        items = checklist(proc, answers, today=TODAY)
        group = proc.papers[-1]
        assert {i.name for i in items} == {p.name for p in group.items}
        assert all(i.certain for i in items) and not any(i.prefilled for i in items)
        assert "Nếu thuộc trường hợp" not in format_checklist(items)


# --- imported records (the national database) -------------------------------------------------

@pytest.fixture(scope="module")
def several_cases():
    """An imported procedure with three or more cases, one of them with a portal note (* Lưu ý)."""
    catalogue = default_catalogue()
    return next(p for p in catalogue if catalogue.is_imported(p.id) and len(p.papers) >= 3)


def test_an_imported_procedure_with_several_cases_asks_which(several_cases):
    s = FormSession(several_cases.id, today=TODAY)
    answers = s.apply_answer("full_name", "trần văn bình", {})
    answers = s.apply_answer("phone", "0912345678", answers)
    field = s.next_field(answers)
    assert field.key == "case" and len(field.choices) == len(several_cases.papers)
    assert all(len(c) <= 80 and not c.endswith(":") for c in field.choices)
    assert "1. " in field.question() and "3. " in field.question()
    by_number = s.apply_answer("case", "2", answers)
    by_words = s.apply_answer("case", field.choices[1], answers)
    assert by_number["case"] == by_words["case"] == field.choices[1]
    items = checklist(several_cases, by_number, today=TODAY)
    assert {i.name for i in items} == {p.name for p in several_cases.papers[1].items}
    with pytest.raises(FieldError):
        s.apply_answer("case", "9", answers)


def test_a_one_case_imported_procedure_asks_no_case():
    catalogue = default_catalogue()
    proc = next(p for p in catalogue if catalogue.is_imported(p.id) and len(p.papers) == 1)
    s = FormSession(proc.id, today=TODAY)
    answers = s.apply_answer("full_name", "trần văn bình", {})
    answers = s.apply_answer("phone", "0912345678", answers)
    assert s.next_field(answers).key == "note"


def test_portal_notes_are_shown_as_notes_not_as_papers():
    from bot.dossiers.checklist import ChecklistItem, is_note

    note = ChecklistItem("* Lưu ý: bản sao phải có chứng thực", 0, 0, None, "", "", True, False)
    paper = ChecklistItem("Tờ khai đăng ký: 01 bản chính;", 1, 0, None, "", "", True, False)
    assert is_note(note) and not is_note(paper)
    text = format_checklist([paper, note])
    assert "- Tờ khai đăng ký: 01 bản chính: 1 bản chính" in text
    assert text.endswith("Lưu ý:\n- Lưu ý: bản sao phải có chứng thực")


def test_the_printed_checklist_of_an_imported_procedure(several_cases):
    import io

    from pypdf import PdfReader

    from bot.dossiers import render_checklist_pdf
    from procedures.model import national_source

    s = FormSession(several_cases.id, today=TODAY)
    answers = {"full_name": "Trần Văn Bình", "phone": "0912345678"}
    answers["case"] = s.field("case", answers).choices[0]
    items = checklist(several_cases, answers, today=TODAY)
    pdf = render_checklist_pdf(several_cases, answers, "HS-2026-ABC123", items,
                               source="\n".join(national_source(several_cases)), today=TODAY)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "PHIẾU KIỂM TRA HỒ SƠ" in text and several_cases.code in text and "HS-2026-ABC123" in text
    assert "Trần Văn Bình" in text and "0912345678" in text
    assert " ".join(answers["case"].split())[:40] in text
    assert "bản chính" in text or "bản sao" in text
    assert f"Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã {several_cases.code}" in text


BASE = """\
id: X
name: Liên hệ thử
procedures: ["*"]
pdf: false
sections:
  - title: null
    fields:
      - {key: full_name, label: Họ tên, prompt: Tên, type: name}
      - {key: phone, label: Điện thoại, prompt: Số, type: phone}
"""


def write(tmp_path, body):
    path = tmp_path / "x.yml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_form_without_pdf_needs_no_print_texts(tmp_path):
    form = load_form(write(tmp_path, BASE))
    assert not form.has_pdf and form.is_generic and form.signatures == ()


@pytest.mark.parametrize("old, new, message", [
    ("pdf: false\n", "", "missing title"),                    # a printed form still needs its texts
    ("pdf: false", "pdf: 'no'", "pdf must be true or false"),
    ('procedures: ["*"]', 'procedures: ["*", ho-chieu]', "must be alone"),
    ('procedures: ["*"]', "procedures: ho-chieu", "list of catalogue ids"),
    ('procedures: ["*"]', "procedures: [ho-chieu, 3]", "list of catalogue ids"),
    ("      - {key: phone, label: Điện thoại, prompt: Số, type: phone}\n", "", "phone"),
])
def test_bad_generic_definitions_are_refused(tmp_path, old, new, message):
    assert old in BASE
    with pytest.raises(FormDefinitionError, match=message):
        load_form(write(tmp_path, BASE.replace(old, new)))

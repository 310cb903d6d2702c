"""The generic contact form (lien-he.yml): every procedure without a form of its own gets a draft."""

import datetime as dt
import textwrap

import pytest

from bot.dossiers.checklist import checklist, format_checklist
from bot.dossiers.forms import FormDefinitionError, FormSession, default_forms, load_form
from procedures import default_catalogue

TODAY = dt.date(2026, 2, 12)
WITH_OWN_FORM = {"ho-chieu", "khai-sinh", "ket-hon", "tam-tru", "thuong-tru"}


def without_own_form():
    return [p.id for p in default_catalogue() if p.id not in WITH_OWN_FORM]


def test_generic_form_is_contact_only_and_not_printed():
    form = default_forms()["lien-he"]
    assert form.is_generic and not form.has_pdf and form.code is None
    assert [f.key for f in form.fields] == ["full_name", "phone", "note"]
    assert [f.required for f in form.fields] == [True, True, False]
    assert all(f.has_pdf for f in default_forms().values() if not f.is_generic)


@pytest.mark.parametrize("proc", without_own_form())
def test_every_procedure_without_a_form_gets_the_contact_form(proc):
    s = FormSession(proc, today=TODAY)
    assert [f.id for f in s.forms] == ["lien-he"]
    answers = {}
    for text in ("nguyễn văn an", "0912 345 678", "bỏ qua"):
        answers = s.apply_answer(s.next_field(answers).key, text, answers)
    assert s.is_complete(answers)
    assert answers == {"full_name": "Nguyễn Văn An", "phone": "0912345678", "note": None}
    assert "0912***678" in s.summary(answers) and "0912345678" not in s.summary(answers)


def test_a_procedure_with_its_own_form_does_not_get_the_generic_one():
    for proc in WITH_OWN_FORM:
        assert "lien-he" not in [f.id for f in FormSession(proc, today=TODAY).forms]


def test_without_a_generic_form_an_unknown_procedure_still_has_no_session():
    forms = {k: v for k, v in default_forms().items() if not v.is_generic}
    with pytest.raises(KeyError):
        FormSession("doi-gplx", forms=forms)


def test_checklist_lists_every_paper_group_of_the_procedure():
    catalogue = default_catalogue()
    for proc_id in without_own_form():
        proc = catalogue.get(proc_id)
        items = checklist(proc, {"full_name": "Nguyễn Văn An", "phone": "0912345678"}, today=TODAY)
        wanted = {p.name for g in proc.papers for p in g.items}
        assert {i.name for i in items} == wanted
        assert not any(i.prefilled for i in items)
        text = format_checklist(items)
        if len(proc.papers) == 1:  # the only case there is: certain, no "if" heading
            assert all(i.certain for i in items) and "Nếu thuộc trường hợp" not in text
        else:
            for group in proc.papers:
                assert f"Nếu thuộc trường hợp “{group.case}”" in text


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

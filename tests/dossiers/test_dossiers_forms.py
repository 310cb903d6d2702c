"""Form definitions and the one-question-at-a-time session."""

import datetime as dt
import textwrap

import pytest

from bot.dossiers import conditions
from bot.dossiers.forms import (FIELD_TYPES, FormDefinitionError, FormSession, default_forms, load_form,
                                load_forms)
from bot.dossiers.validators import FieldError

TODAY = dt.date(2026, 2, 12)

# Valid answers by field key (or type) used to walk through whole forms.
SAMPLE_BY_TYPE = {
    "name": "nguyễn thị hồng nhung", "date": "12/03/1990", "sex": "nữ", "phone": "0912 345 678",
    "text": "Kinh", "address": "Số 5 ngõ 12 Trần Phú, phường Ba Đình, Hà Nội", "email": "nhung.nguyen@gmail.com",
}
ADULT = {"birth_date": "12/03/1990", "sex": "nữ", "personal_id": "001190012345"}


def walk(session, overrides=None, answers=None, limit=60):
    """Answer every question the session asks; returns (answers, asked keys)."""
    overrides, answers, asked = overrides or {}, dict(answers or {}), []
    while (field := session.next_field(answers)) is not None:
        assert len(asked) < limit, "the session keeps asking"
        asked.append(field.key)
        if field.key in overrides:
            text = overrides[field.key]
        elif field.type == "choice":
            text = "1"
        elif field.type == "personal_id":
            raise AssertionError(f"no sample ID for {field.key}")
        else:
            text = SAMPLE_BY_TYPE[field.type]
        answers = session.apply_answer(field.key, text, answers)
    return answers, asked


def session(proc):
    return FormSession(proc, today=TODAY)


# --- definitions ------------------------------------------------------------------------------

def test_all_required_forms_load_and_serve_their_procedures():
    forms = default_forms()
    assert {"TK01", "TK01a", "khai-sinh", "CT01", "ket-hon"} <= set(forms)
    assert forms["TK01"].procedures == ("ho-chieu",)
    assert forms["TK01a"].procedures == ("ho-chieu",)
    assert set(forms["CT01"].procedures) == {"tam-tru", "thuong-tru"}
    assert "31/2023/TT-BCA" in forms["TK01"].legal_basis
    assert "66/2023/TT-BCA" in forms["CT01"].legal_basis
    assert "04/2020/TT-BTP" in forms["khai-sinh"].legal_basis
    for form in forms.values():
        for f in form.fields:
            assert f.type in FIELD_TYPES
            assert f.prompt.strip() and f.label.strip()


def test_tk01a_has_parent_fields_and_parent_signature():
    tk01a = default_forms()["TK01a"]
    keys = {f.key for f in tk01a.fields}
    assert {"rep_relation", "rep_name", "rep_personal_id", "father_name", "mother_name"} <= keys
    assert tk01a.signatures[0].name_field == "rep_name"
    assert "Cha, mẹ" in tk01a.signatures[0].title


def write_form(tmp_path, body):
    path = tmp_path / "x.yml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


BASE = """\
id: X
name: Tờ khai thử
title: TỜ KHAI THỬ
legal_basis: Mẫu thử
procedures: [thu]
signatures: [{title: Người khai, name_field: full_name}]
sections:
  - title: null
    fields:
      - {key: full_name, label: Họ tên, prompt: Tên, type: name}
      - {key: phone, label: Điện thoại, prompt: Số, type: phone}
"""


def test_a_minimal_form_loads(tmp_path):
    form = load_form(write_form(tmp_path, BASE))
    assert [f.key for f in form.fields] == ["full_name", "phone"]


@pytest.mark.parametrize("extra, message", [
    ("      - {key: x, label: X, prompt: X, type: colour}\n", "unknown type"),
    ("      - {key: x, label: X, prompt: X, type: choice}\n", "choices"),
    ("      - {key: x, label: X, prompt: X, when: {equals: {later: 1}}}\n"
     "      - {key: later, label: L, prompt: L}\n", "asked earlier"),
    ("      - {key: x, label: X, prompt: X, when: {python: '1/0'}}\n", "unknown operator"),
    ("      - {key: full_name, label: X, prompt: X}\n", "duplicate"),
    ("      - {key: x, label: X, prompt: X, colour: red}\n", "unknown keys"),
])
def test_bad_definitions_are_refused(tmp_path, extra, message):
    with pytest.raises((FormDefinitionError, conditions.ConditionError)) as err:
        load_form(write_form(tmp_path, BASE + extra))
    assert message in str(err.value)


def test_a_form_without_contact_phone_is_refused(tmp_path):
    body = BASE.replace("      - {key: phone, label: Điện thoại, prompt: Số, type: phone}\n", "")
    with pytest.raises(FormDefinitionError, match="phone"):
        load_form(write_form(tmp_path, body))


def test_duplicate_form_ids_are_refused(tmp_path):
    write_form(tmp_path, BASE)
    (tmp_path / "y.yml").write_text(BASE, encoding="utf-8")
    with pytest.raises(FormDefinitionError, match="duplicate form id"):
        load_forms(tmp_path)


# --- conditions ---------------------------------------------------------------------------------

def test_conditions():
    answers = {"a": "Có", "b": None, "born": "2015-06-01", "c": "Đăng ký tạm trú"}
    ev = lambda c: conditions.evaluate(c, answers, TODAY)  # noqa: E731
    assert ev({"equals": {"a": "co"}})
    assert not ev({"equals": {"a": "Không"}})
    assert ev({"not_equals": {"a": "Không"}})
    assert not ev({"not_equals": {"missing": "x"}})
    assert ev({"one_of": {"c": ["Đăng ký thường trú", "Đăng ký tạm trú"]}})
    assert ev({"filled": "a"}) and not ev({"filled": "b"}) and not ev({"filled": ["a", "b"]})
    assert ev({"age_under": {"field": "born", "years": 14}})
    assert not ev({"age_at_least": {"field": "born", "years": 14}})
    assert not ev({"age_under": {"field": "missing", "years": 14}})
    assert ev({"any": [{"filled": "b"}, {"filled": "a"}]})
    assert not ev({"all": [{"filled": "b"}, {"filled": "a"}]})
    assert ev({"not": {"filled": "b"}})
    assert ev({"filled": "a", "equals": {"a": "Có"}}) and not ev({"filled": "a", "equals": {"a": "x"}})
    assert conditions.references({"all": [{"filled": "a"}, {"not": {"age_under": {"field": "born", "years": 1}}}]}) \
        == {"a", "born"}


def test_age_boundary_is_the_birthday():
    answers = {"born": "2012-02-12"}
    assert conditions.evaluate({"age_at_least": {"field": "born", "years": 14}}, answers, TODAY)
    assert conditions.evaluate({"age_under": {"field": "born", "years": 14}}, answers,
                               TODAY - dt.timedelta(days=1))


# --- the session ---------------------------------------------------------------------------------

def test_passport_asks_birth_date_first_then_picks_tk01_for_an_adult():
    s = session("ho-chieu")
    first = s.next_field({})
    assert first.key == "birth_date"
    assert s.form_for({}) is None
    answers = s.apply_answer("birth_date", "12/3/1990", {})
    assert s.form_for(answers).id == "TK01"
    answers, asked = walk(s, {"personal_id": "001190012345", "sex": "nữ"}, answers)
    assert "birth_date" not in asked                      # not asked twice
    assert "rep_name" not in asked
    assert s.is_complete(answers)
    assert answers["full_name"] == "Nguyễn Thị Hồng Nhung"
    assert answers["birth_date"] == "1990-03-12"
    assert answers["phone"] == "0912345678"


def test_passport_for_a_child_uses_tk01a_with_the_parent():
    s = session("ho-chieu")
    answers = s.apply_answer("birth_date", "01/06/2015", {})
    assert s.form_for(answers).id == "TK01a"
    answers, asked = walk(s, {"sex": "nam", "personal_id": "001215012345",
                              "rep_personal_id": "001190012345", "previous_passport": "bỏ qua"}, answers)
    assert {"rep_relation", "rep_name", "rep_birth_date", "rep_personal_id"} <= set(asked)
    assert "occupation" not in asked
    assert s.is_complete(answers)


def test_changing_the_birth_date_switches_the_passport_form():
    s = session("ho-chieu")
    answers = s.apply_answer("birth_date", "01/06/2015", {})
    assert s.form_for(answers).id == "TK01a"
    answers = s.apply_answer("birth_date", "01/06/1990", answers)
    assert s.form_for(answers).id == "TK01"


def test_apply_answer_validates_and_does_not_mutate():
    s = session("ho-chieu")
    answers = {"birth_date": "1990-03-12"}
    with pytest.raises(FieldError) as err:
        s.apply_answer("phone", "09123", answers)
    assert "10 chữ số" in err.value.message
    new = s.apply_answer("phone", "+84 912 345 678", answers)
    assert answers == {"birth_date": "1990-03-12"}
    assert new["phone"] == "0912345678"


def test_personal_id_is_checked_against_earlier_answers():
    s = session("ho-chieu")
    answers = {"birth_date": "1990-03-12", "sex": "Nữ"}
    with pytest.raises(FieldError, match="năm sinh 1991"):
        s.apply_answer("personal_id", "001191012345", answers)
    with pytest.raises(FieldError, match="giới tính nam"):
        s.apply_answer("personal_id", "001090012345", answers)
    assert s.apply_answer("personal_id", "001190012345", answers)["personal_id"] == "001190012345"


def test_editing_the_birth_date_drops_an_id_that_no_longer_matches():
    s = session("ho-chieu")
    answers = {"birth_date": "1990-03-12", "sex": "Nữ", "full_name": "Lê Thị Hoa"}
    answers = s.apply_answer("personal_id", "001190012345", answers)
    same_year = s.apply_answer("birth_date", "1/1/1990", answers)
    assert same_year["personal_id"] == "001190012345"
    other_year = s.apply_answer("birth_date", "1/1/1991", answers)
    assert "personal_id" not in other_year
    form = s.form_for(other_year)
    assert "personal_id" in [f.key for f in form.active_fields(other_year, TODAY) if f.key not in other_year]


def test_optional_and_required_skips():
    s = session("ho-chieu")
    answers = {"birth_date": "1990-03-12"}
    assert s.apply_answer("email", "không", answers)["email"] is None
    assert s.apply_answer("employer", "bỏ qua", answers)["employer"] is None
    with pytest.raises(FieldError, match="bắt buộc"):
        s.apply_answer("full_name", "bỏ qua", answers)
    assert s.apply_answer("religion", "Không", answers)["religion"] == "Không"   # a real answer


def test_follow_up_questions_depend_on_answers():
    s = session("ho-chieu")
    answers = {"birth_date": "1990-03-12"}
    with_father = s.apply_answer("father_name", "nguyễn văn bình", answers)
    without = s.apply_answer("father_name", "bỏ qua", answers)
    form = s.form_for(answers)
    assert "father_birth_date" in {f.key for f in form.active_fields(with_father, TODAY)}
    assert "father_birth_date" not in {f.key for f in form.active_fields(without, TODAY)}


def test_birth_registration_without_a_known_father():
    s = session("khai-sinh")
    ids = {"requester_personal_id": "001190012345", "mother_personal_id": "001190012345",
           "child_birth_date": "05/01/2026", "father_known": "Chưa xác định"}
    answers, asked = walk(s, ids)
    assert "father_name" not in asked and "father_personal_id" not in asked
    assert {"child_name", "mother_name", "requester_name"} <= set(asked)
    with pytest.raises(FieldError, match="giới tính nam"):      # the mother's ID must be a woman's
        s.apply_answer("mother_personal_id", "001090012345", {"mother_birth_date": "1990-01-01"})


def test_residence_form_is_preset_per_procedure():
    tam = session("tam-tru")
    answers, asked = walk(tam, {"personal_id": "001190012345", "household_head_name": "bỏ qua"})
    assert "request" not in asked and answers["request"] == "Đăng ký tạm trú"
    assert "stay_period" in asked and "residence_basis" not in asked
    thuong = session("thuong-tru")
    answers, asked = walk(thuong, {"personal_id": "001190012345", "household_head_name": "bỏ qua"})
    assert answers["request"] == "Đăng ký thường trú"
    assert "residence_basis" in asked and "stay_period" not in asked


def test_residence_form_asks_a_guardian_for_a_minor():
    s = session("tam-tru")
    answers = {"birth_date": "2010-01-01"}
    assert "guardian_name" in {f.key for f in s.form_for(answers).active_fields(answers, TODAY)}
    answers = {"birth_date": "1990-01-01"}
    assert "guardian_name" not in {f.key for f in s.form_for(answers).active_fields(answers, TODAY)}


def test_marriage_age_limits():
    s = session("ket-hon")
    with pytest.raises(FieldError, match="18 tuổi"):
        s.apply_answer("female_birth_date", "13/02/2008", {})
    with pytest.raises(FieldError, match="20 tuổi"):
        s.apply_answer("male_birth_date", "01/01/2007", {})
    assert s.apply_answer("male_birth_date", "12/02/2006", {})["male_birth_date"] == "2006-02-12"


def test_find_fields_by_label_words():
    s = session("ho-chieu")
    adult = {"birth_date": "1990-03-12"}
    assert [f.key for f in s.find_fields("sửa ngày sinh", adult)] == ["birth_date"]
    assert [f.key for f in s.find_fields("sua ngay sinh", adult)] == ["birth_date"]
    assert [f.key for f in s.find_fields("cho mình sửa lại số điện thoại", adult)] == ["phone"]
    assert [f.key for f in s.find_fields("đổi số cccd", adult)] == ["personal_id"]
    assert [f.key for f in s.find_fields("sửa ngày sinh của mẹ", {**adult, "mother_name": "Lê Thị Cúc"})] \
        == ["mother_birth_date"]
    assert [f.key for f in s.find_fields("sửa tên", adult)] == ["full_name"]
    assert s.find_fields("sửa cái kia", adult) == []
    assert [f.key for f in s.find_fields("sửa ngày sinh", {})] == ["birth_date"]   # before the form is known


def test_find_fields_reports_ambiguity():
    s = session("ket-hon")
    assert {f.key for f in s.find_fields("sửa ngày sinh", {})} == {"female_birth_date", "male_birth_date"}
    assert [f.key for f in s.find_fields("sửa ngày sinh bên nam", {})] == ["male_birth_date"]


def test_summary_masks_numbers_unless_asked():
    s = session("ho-chieu")
    answers = {"birth_date": "1990-03-12", "full_name": "Nguyễn Thị Hồng Nhung", "sex": "Nữ",
               "personal_id": "001190012345", "phone": "0912345678", "email": None}
    text = s.summary(answers)
    assert text.startswith("Tờ khai đề nghị cấp hộ chiếu phổ thông (Mẫu TK01)")
    assert "Họ và tên: Nguyễn Thị Hồng Nhung" in text
    assert "Ngày sinh: 12/03/1990" in text
    assert "0011*****345" in text and "001190012345" not in text
    assert "0912***678" in text and "0912345678" not in text
    assert "Email: (bỏ trống)" in text
    assert "Nơi thường trú: (chưa trả lời)" in text
    full = s.summary(answers, masked=False)
    assert "001190012345" in full and "0912345678" in full


def test_question_text_lists_choices_and_skip_hint():
    form = default_forms()["TK01"]
    q = form.field("request").question()
    assert "1. Cấp hộ chiếu lần đầu" in q
    assert "bỏ qua" in form.field("email").question()
    assert "bỏ qua" not in form.field("full_name").question()


@pytest.mark.parametrize("proc, ids", [
    ("ho-chieu", {"personal_id": "001190012345"}),
    ("khai-sinh", {"requester_personal_id": "001190012345", "mother_personal_id": "001190012345",
                   "father_personal_id": "001090012345", "father_birth_date": "1/1/1990",
                   "child_birth_date": "5/1/2026"}),
    ("ket-hon", {"female_personal_id": "001190012345", "male_personal_id": "079088012345",
                 "male_birth_date": "2/2/1988"}),
    ("tam-tru", {"personal_id": "001190012345", "head_personal_id": "001090012345"}),
    ("thuong-tru", {"personal_id": "001190012345", "head_personal_id": "001090012345"}),
])
def test_every_procedure_can_be_completed(proc, ids):
    s = session(proc)
    answers, asked = walk(s, {**ADULT, **ids})
    form = s.form_for(answers)
    assert s.is_complete(answers)
    assert all(f.key in answers for f in form.active_fields(answers, TODAY))
    done, total = s.progress(answers)
    assert done == total > 5

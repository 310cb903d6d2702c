"""Validators: property-based round trips for ID, date and phone; specific messages."""

import calendar
import datetime as dt
import unicodedata

import pytest
from hypothesis import assume, given, strategies as st

from bot.dossiers import validators
from bot.dossiers.validators import (
    PROVINCE_CODES, FieldError, parse_address, parse_choice, parse_date, parse_name,
    parse_personal_id, parse_phone, parse_sex, parse_text,
)

TODAY = dt.date(2026, 2, 12)
past_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
provinces = st.sampled_from(sorted(PROVINCE_CODES))
sexes = st.sampled_from(["Nam", "Nữ"])


def make_id(province: str, birth: dt.date, sex: str, serial: int) -> str:
    century = (birth.year - 1900) // 100
    digit = century * 2 + (1 if sex == "Nữ" else 0)
    return f"{province}{digit}{birth.year % 100:02d}{serial:06d}"


def test_province_list_is_the_63_old_provinces():
    assert len(PROVINCE_CODES) == 63
    assert PROVINCE_CODES["001"] == "Hà Nội"
    assert PROVINCE_CODES["079"] == "TP Hồ Chí Minh"
    assert PROVINCE_CODES["096"] == "Cà Mau"
    assert "003" not in PROVINCE_CODES and "005" not in PROVINCE_CODES


# --- personal id -----------------------------------------------------------------------

@st.composite
def id_variants(draw):
    """A valid ID, its owner's birth date and sex, and a formatted way of typing it."""
    birth, sex = draw(past_dates), draw(sexes)
    value = make_id(draw(provinces), birth, sex, draw(st.integers(0, 999999)))
    sep = draw(st.sampled_from(["", " ", ".", "-"]))
    groups = draw(st.sampled_from([(12,), (3, 9), (3, 3, 3, 3), (4, 4, 4), (3, 1, 2, 6)]))
    parts, i = [], 0
    for g in groups:
        parts.append(value[i:i + g])
        i += g
    padding = draw(st.sampled_from(["", " ", "  "]))
    return value, birth, sex, padding + sep.join(parts) + padding


@given(id_variants())
def test_personal_id_round_trip(case):
    value, birth, sex, typed = case
    assert parse_personal_id(typed) == value
    assert parse_personal_id(typed, birth_date=birth, sex=sex) == value
    assert parse_personal_id(typed, birth_date=birth.isoformat(), sex=sex) == value


@given(st.from_regex(r"\A[0-9]{3}\Z"), st.from_regex(r"\A[0-9]{9}\Z"))
def test_personal_id_unknown_province_refused(code, rest):
    assume(code not in PROVINCE_CODES)
    with pytest.raises(FieldError) as err:
        parse_personal_id(code + rest)
    assert code in err.value.message


@given(st.from_regex(r"\A[0-9]{1,20}\Z"))
def test_personal_id_wrong_length_refused(digits):
    assume(len(digits) != 12)
    with pytest.raises(FieldError) as err:
        parse_personal_id(digits)
    assert "12 chữ số" in err.value.message


@given(id_variants())
def test_personal_id_other_sex_refused(case):
    value, birth, sex, _ = case
    other = "Nữ" if sex == "Nam" else "Nam"
    with pytest.raises(FieldError) as err:
        parse_personal_id(value, birth_date=birth, sex=other)
    assert "giới tính" in err.value.message


@given(id_variants(), st.integers(1, 120))
def test_personal_id_other_birth_year_refused(case, shift):
    value, birth, sex, _ = case
    other = birth.replace(year=birth.year - shift, day=min(birth.day, 28))
    assume(other.year >= 1900)
    with pytest.raises(FieldError) as err:
        parse_personal_id(value, birth_date=other, sex=sex)
    assert str(birth.year) in err.value.message


def test_personal_id_century_digits():
    # 4th digit 2 = male born in the 21st century, 3 = female.
    assert parse_personal_id("079203000001", birth_date=dt.date(2003, 5, 1), sex="Nam")
    assert parse_personal_id("079303000001", birth_date=dt.date(2003, 5, 1), sex="Nữ")
    with pytest.raises(FieldError):
        parse_personal_id("079003000001", birth_date=dt.date(2003, 5, 1))   # 0 → 1903


@pytest.mark.parametrize("text", ["00109001234a", "CCCD 001090012345", "001/090/012345"])
def test_personal_id_non_digits_refused(text):
    with pytest.raises(FieldError) as err:
        parse_personal_id(text)
    assert "chỉ gồm 12 chữ số" in err.value.message


def test_personal_id_old_cmnd_hint():
    with pytest.raises(FieldError) as err:
        parse_personal_id("012345678")
    assert "chứng minh nhân dân" in err.value.message


def test_personal_id_messages_name_the_problem():
    with pytest.raises(FieldError) as err:
        parse_personal_id("003090012345")
    assert "003" in err.value.message and "mã tỉnh" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_personal_id("001090012345", sex="Nữ")
    assert "giới tính nam" in err.value.message and "nữ" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_personal_id("001090012345", birth_date=dt.date(1991, 1, 1))
    assert "năm sinh 1990" in err.value.message and "01/01/1991" in err.value.message


# --- dates -------------------------------------------------------------------------------

DATE_FORMATS = [
    lambda d: f"{d.day}/{d.month}/{d.year}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{d.day:02d}-{d.month:02d}-{d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.day} tháng {d.month} năm {d.year}",
    lambda d: f"{d.day} thang {d.month} nam {d.year}",
    lambda d: f"ngày {d.day:02d} tháng {d.month:02d} năm {d.year}",
    lambda d: f"Ngày {d.day} Tháng {d.month} Năm {d.year}",
    lambda d: f"  {d.day} / {d.month} / {d.year} ",
    lambda d: unicodedata.normalize("NFD", f"ngày {d.day} tháng {d.month} năm {d.year}"),
    lambda d: d.isoformat(),
]


@given(past_dates, st.sampled_from(DATE_FORMATS))
def test_date_round_trip(day, fmt):
    assert parse_date(fmt(day), today=TODAY) == day


@given(st.integers(1900, 2025), st.integers(1, 12), st.data())
def test_impossible_dates_refused(year, month, data):
    days = calendar.monthrange(year, month)[1]
    day = data.draw(st.one_of(st.just(0), st.integers(days + 1, 99)))
    with pytest.raises(FieldError) as err:
        parse_date(f"{day}/{month}/{year}", today=TODAY)
    assert "không có thật" in err.value.message


@given(st.dates(min_value=TODAY + dt.timedelta(days=1), max_value=dt.date(2999, 12, 31)),
       st.sampled_from(DATE_FORMATS))
def test_future_dates_refused(day, fmt):
    with pytest.raises(FieldError) as err:
        parse_date(fmt(day), today=TODAY)
    assert "tương lai" in err.value.message


@given(st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(1899, 12, 31)))
def test_dates_before_1900_refused(day):
    with pytest.raises(FieldError) as err:
        parse_date(f"{day.day}/{day.month}/{day.year}", today=TODAY)
    assert "1900" in err.value.message


def test_date_messages():
    with pytest.raises(FieldError) as err:
        parse_date("31/2/2000", today=TODAY)
    assert err.value.message == "Ngày 31/02/2000 không có thật: tháng 2 năm 2000 chỉ có 29 ngày."
    with pytest.raises(FieldError) as err:
        parse_date("29/2/2023", today=TODAY)
    assert "chỉ có 28 ngày" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_date("12/13/1990", today=TODAY)
    assert "Tháng 13" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_date("12/3/90", today=TODAY)
    assert "4 chữ số" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_date("hôm qua", today=TODAY)
    assert "ngày/tháng/năm" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_date("1/1/1850", today=TODAY)
    assert "Năm 1850" in err.value.message


def test_date_min_age_and_birth_date():
    assert parse_date("12/02/2008", today=TODAY, min_age=18) == dt.date(2008, 2, 12)
    with pytest.raises(FieldError) as err:
        parse_date("13/02/2008", today=TODAY, min_age=18, min_age_reason="để kết hôn")
    assert "17 tuổi" in err.value.message and "18 tuổi" in err.value.message and "để kết hôn" in err.value.message
    with pytest.raises(FieldError) as err:
        parse_date("1/1/2010", today=TODAY, birth_date="2015-06-01")
    assert "trước ngày sinh" in err.value.message


# --- phones --------------------------------------------------------------------------------

@st.composite
def phone_variants(draw):
    national = "0" + draw(st.sampled_from("35789")) + draw(st.from_regex(r"\A[0-9]{8}\Z"))
    prefix = draw(st.sampled_from(["0", "+84", "84", "+84 ", "+84 (0)", "(+84) "]))
    digits = (national if prefix == "0" else prefix + national[1:])
    # sprinkle separators between digits
    out = []
    for ch in digits:
        out.append(ch)
        if ch.isdigit():
            out.append(draw(st.sampled_from(["", "", "", " ", ".", "-"])))
    return national, "".join(out).strip(" .-")


@given(phone_variants())
def test_phone_round_trip(case):
    national, typed = case
    assert parse_phone(typed) == national


@given(st.from_regex(r"\A0[0-9]{9}\Z"))
def test_phone_wrong_network_prefix_refused(number):
    assume(number[1] not in "35789")
    with pytest.raises(FieldError):
        parse_phone(number)


@given(st.from_regex(r"\A0[35789][0-9]{0,12}\Z"))
def test_phone_wrong_length_refused(number):
    assume(len(number) != 10)
    with pytest.raises(FieldError):
        parse_phone(number)


@pytest.mark.parametrize("text, expected", [
    ("0912a45678", "chỉ gồm chữ số"),
    ("024 3825 1234", "máy bàn"),
    ("0612345678", "03, 05, 07, 08 hoặc 09"),
    ("091234567", "có 9 chữ số"),
    ("912345678", "thiếu số 0"),
    ("+1 650 555 1234", "+84"),
])
def test_phone_messages(text, expected):
    with pytest.raises(FieldError) as err:
        parse_phone(text)
    assert expected in err.value.message


# --- names, sex, text, choices -------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("nguyễn  văn AN", "Nguyễn Văn An"),
    ("NGUYỄN THỊ HỒNG NHUNG", "Nguyễn Thị Hồng Nhung"),
    ("  đỗ   đức   ĐẠT ", "Đỗ Đức Đạt"),
    (unicodedata.normalize("NFD", "trần thị ánh tuyết"), "Trần Thị Ánh Tuyết"),
    ("ksor h'bia", "Ksor H'Bia"),
])
def test_name_normalised(text, expected):
    value = parse_name(text)
    assert value == expected
    assert unicodedata.is_normalized("NFC", value)


@given(st.lists(st.sampled_from(["nguyễn", "TRẦN", "thị", "hồng", "Ánh", "đặng", "ỨNG", "ngọc"]),
                min_size=2, max_size=5))
def test_name_keeps_letters_and_diacritics(words):
    value = parse_name("  ".join(words))
    assert value.lower() == " ".join(words).lower()
    assert all(w[0].isupper() and w[1:] == w[1:].lower() for w in value.split())


@pytest.mark.parametrize("text, expected", [
    ("Nguyễn Văn 2", "chữ số"),
    ("Nguyễn @ Văn", "@"),
    ("An", "cả họ và tên"),
    ("", "họ và tên"),
])
def test_name_refused(text, expected):
    with pytest.raises(FieldError) as err:
        parse_name(text)
    assert expected in err.value.message


@pytest.mark.parametrize("text, expected", [
    ("nam", "Nam"), ("Nam", "Nam"), ("NAM", "Nam"), ("male", "Nam"), ("con trai", "Nam"), ("bé trai", "Nam"),
    ("nữ", "Nữ"), ("Nữ", "Nữ"), ("nu", "Nữ"), ("NỮ", "Nữ"), ("female", "Nữ"), ("con gái", "Nữ"),
    ("nữ.", "Nữ"), (unicodedata.normalize("NFD", "nữ"), "Nữ"),
])
def test_sex_variants(text, expected):
    assert parse_sex(text) == expected


def test_sex_refused():
    with pytest.raises(FieldError) as err:
        parse_sex("không biết")
    assert "nam" in err.value.message and "nữ" in err.value.message


def test_choice_by_number_text_or_unique_part():
    choices = ["Cấp hộ chiếu lần đầu", "Cấp lại do hộ chiếu bị mất", "Cấp lại do hộ chiếu bị hư hỏng"]
    assert parse_choice("2", choices=choices) == choices[1]
    assert parse_choice("cap ho chieu lan dau", choices=choices) == choices[0]
    assert parse_choice("bị mất", choices=choices) == choices[1]
    with pytest.raises(FieldError) as err:
        parse_choice("cấp lại", choices=choices)       # ambiguous
    assert "1. Cấp hộ chiếu lần đầu" in err.value.message
    with pytest.raises(FieldError):
        parse_choice("4", choices=choices)


def test_text_and_address():
    assert parse_text("  Kế   toán ") == "Kế toán"
    with pytest.raises(FieldError):
        parse_text("   ")
    with pytest.raises(FieldError):
        parse_text("x" * 201)
    assert parse_address("Số 5, Trần Phú, Hà Nội") == "Số 5, Trần Phú, Hà Nội"
    with pytest.raises(FieldError) as err:
        parse_address("Hà Nội")
    assert "xã/phường" in err.value.message


# --- email ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("lan.nguyen@gmail.com", "lan.nguyen@gmail.com"),
    (" Lan.Nguyen@Gmail.COM ", "Lan.Nguyen@gmail.com"),
    ("tran_van+ho.so@ubnd.hcm.gov.vn", "tran_van+ho.so@ubnd.hcm.gov.vn"),
    ("ｌａｎ＠ｇｍａｉｌ．ｃｏｍ", "lan@gmail.com"),                # fullwidth, as some phone keyboards type it
])
def test_email_accepts_real_addresses(text, expected):
    assert validators.parse_email(text) == expected


@pytest.mark.parametrize("text", ["12 Lê Lợi, phường Bến Thành, TP.HCM", "lan.nguyen", "lan@", "@gmail.com",
                                  "lan@gmail", "lan nguyen@gmail.com x", "lan..nguyen@gmail.com", "lan@gmail..com",
                                  "nguyễn@gmail.com", "lan@-gmail.com"])
def test_email_refuses_what_is_not_an_address(text):
    with pytest.raises(FieldError) as error:
        validators.parse_email(text)
    assert "email" in error.value.message.lower()


def test_email_field_of_the_forms_is_validated():
    from bot.dossiers import FormSession

    session = FormSession("ho-chieu")
    form = session.form_for({"birth_date": "1990-03-12"}) or session.forms[0]
    assert form.field("email").type == "email"

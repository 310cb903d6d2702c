"""Personal data becomes placeholders before a citizen's words become training data (``bot.learning``).

Generated Vietnamese names, 12-digit ID numbers, phone numbers (0xxxxxxxxx, +84…, with the
separators people type), street addresses and dossier codes, in the sentences citizens write;
both as typed and as the app stores them (numbers already masked: "0912***678").
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import learning
from bot.dossiers.codes import ALPHABET, LETTERS
from bot.dossiers.masking import mask_numbers
from bot.learning import group_key, placeholders

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
            "Ngô", "Dương", "Lý", "Đinh", "Trương", "Lâm", "Mai"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Đức", "Hữu", "Thu", "Quốc", "Gia", "Bảo", "Xuân"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hải", "Hùng", "Khôi", "Lan", "Linh", "Nam", "Phúc", "Quân",
         "Tâm", "Trang", "Tuấn", "Yến", "Thảo", "Vy", "Sơn"]
STREETS = ["Lê Lợi", "Nguyễn Huệ", "Trần Hưng Đạo", "Điện Biên Phủ", "Phan Đình Phùng", "Hai Bà Trưng",
           "Cách Mạng Tháng Tám", "Võ Văn Tần", "Lý Thường Kiệt", "Kim Mã"]
SEPARATORS = ["", " ", ".", "-"]

names = st.builds(lambda s, m, g: " ".join([s, *m, g]), st.sampled_from(SURNAMES),
                  st.lists(st.sampled_from(MIDDLE), min_size=1, max_size=2), st.sampled_from(GIVEN))
personal_ids = st.builds(lambda province, rest: f"0{province:02d}{rest}", st.integers(1, 96),
                         st.text("0123456789", min_size=9, max_size=9))


def _grouped(digits: str, sep: str, sizes: tuple[int, ...]) -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(digits[start:start + size])
        start += size
    return sep.join(parts)


phones = st.one_of(
    st.builds(lambda p, rest, sep: _grouped(f"0{p}{rest}", sep, (4, 3, 3)),
              st.sampled_from("35789"), st.text("0123456789", min_size=8, max_size=8), st.sampled_from(SEPARATORS)),
    st.builds(lambda p, rest, sep: "+84" + sep + _grouped(f"{p}{rest}", sep, (3, 3, 3)),
              st.sampled_from("35789"), st.text("0123456789", min_size=8, max_size=8), st.sampled_from(SEPARATORS)),
)
codes = st.builds(lambda year, a, middle, b, lower: (f"HS-{year}-{a}{middle}{b}").lower() if lower else
                  f"HS-{year}-{a}{middle}{b}", st.integers(2024, 2030), st.sampled_from(LETTERS),
                  st.text(ALPHABET, min_size=4, max_size=4), st.sampled_from(LETTERS), st.booleans())
house_numbers = st.one_of(st.integers(1, 999).map(str),
                          st.builds(lambda a, b: f"{a}/{b}", st.integers(1, 999), st.integers(1, 99)))
addresses = st.one_of(
    st.builds(lambda number, kind, street, prefix: f"{prefix}{number} {kind} {street}", house_numbers,
              st.sampled_from(["đường", "phố", "hẻm"]), st.sampled_from(STREETS), st.sampled_from(["", "số "])),
    st.builds(lambda number, street: f"số {number} {street}", house_numbers, st.sampled_from(STREETS)),
    st.builds(lambda number, street: f"{number} {street.lower()}", house_numbers.map(lambda n: n + " đường"),
              st.sampled_from(STREETS)),
)

NAME_TEMPLATES = ["tôi tên là {}, muốn làm hộ chiếu", "{} cần làm căn cước thì làm sao",
                  "làm khai sinh cho bé {} cần gì", "họ tên: {}", "cho mình hỏi hồ sơ của ông {} tới đâu rồi",
                  "Em là {}, em muốn hỏi lệ phí"]
NUMBER_TEMPLATES = ["số điện thoại của tôi là {}", "sđt {} gọi lại giúp em", "cccd {} bị mất thì làm lại ở đâu",
                    "số căn cước {}, cần sửa tên"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NAME_TEMPLATES), names)
def test_names_become_the_name_placeholder(template, name):
    result = placeholders(template.format(name))
    assert name not in result and learning.NAME in result
    assert name.split()[-1] not in result.replace(learning.NAME, "")


@settings(max_examples=80, deadline=None)
@given(names)
def test_a_name_typed_in_lower_case_after_tên_is_replaced(name):
    result = placeholders(f"tôi tên là {name.lower()}, muốn làm hộ chiếu")
    assert name.lower() not in result and result == f"tôi tên là {learning.NAME}, muốn làm hộ chiếu"


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NUMBER_TEMPLATES), st.one_of(phones, personal_ids), st.booleans())
def test_phone_and_id_numbers_become_placeholders_typed_or_masked(template, number, stored):
    text = template.format(number)
    result = placeholders(mask_numbers(text) if stored else text)
    digits = re.sub(r"[^0-9]", "", number)
    expected = learning.PHONE if number.startswith("+84") or len(digits) == 10 else learning.PERSONAL_ID
    assert template.format(expected) == result
    assert "*" not in result and digits not in re.sub(r"[^0-9]", "", result.replace(expected, ""))


@settings(max_examples=100, deadline=None)
@given(phones)
def test_phone_placeholder_shape(phone):
    assert placeholders(phone) == learning.PHONE


@settings(max_examples=100, deadline=None)
@given(personal_ids)
def test_personal_id_placeholder_shape(personal_id):
    assert placeholders(f"CCCD {personal_id}") == f"CCCD {learning.PERSONAL_ID}"


@settings(max_examples=100, deadline=None)
@given(addresses, st.sampled_from(["nhà tôi ở {}, phường Bến Nghé, làm thường trú ở đâu",
                                   "địa chỉ: {}", "tôi sống ở {} quận 3 muốn đăng ký tạm trú",
                                   "ở {} thì nộp hồ sơ ở đâu"]))
def test_street_addresses_become_the_address_placeholder(address, template):
    result = placeholders(template.format(address))
    street = next(s for s in STREETS if s.lower() in address.lower())
    assert address not in result and street.lower() not in result.lower() and learning.ADDRESS in result


@settings(max_examples=100, deadline=None)
@given(codes)
def test_dossier_codes_become_the_code_placeholder(code):
    result = placeholders(f"hồ sơ {code} của tôi sao rồi")
    assert result == f"hồ sơ {learning.DOSSIER_CODE} của tôi sao rồi"


@settings(max_examples=150, deadline=None)
@given(names, phones, personal_ids, addresses, codes)
def test_everything_at_once_idempotent_and_grouped_as_one(name, phone, personal_id, address, code):
    text = f"Tôi là {name}, sđt {phone}, CCCD {personal_id}, ở {address}, hồ sơ {code} chưa xong"
    result = placeholders(text)
    fakes = (learning.NAME, learning.PHONE, learning.PERSONAL_ID, learning.ADDRESS, learning.DOSSIER_CODE)
    for value in (name, phone, personal_id, address, code):
        assert value not in result or value in fakes
    assert placeholders(result) == result
    assert group_key(text) == group_key("Tôi là Lê Thu Hà, sđt 0987654321, CCCD 079123456789, ở 5 đường Kim Mã, "
                                        "hồ sơ HS-2026-K7Q4MP chưa xong")


def test_words_that_are_not_personal_data_stay():
    for text in ["làm hộ chiếu ở TP Hồ Chí Minh mất bao lâu", "Hà Nội có làm căn cước ngày thứ bảy không",
                 "hộ chiếu hết hạn 2 năm rồi", "con tôi bị sai tên trong giấy khai sinh", "Mai tôi đi làm hộ chiếu",
                 "lệ phí 200.000 Đồng phải không", "tôi là sinh viên năm 2", "hết hạn 2 Năm rồi",
                 "nhận hộ chiếu qua đường bưu điện được không", "đường này có xa không"]:
        assert placeholders(text) == text

"""PDF rendering: real text (with diacritics) that pypdf can extract."""

import datetime as dt
import io
import unicodedata

import pytest
from pypdf import PdfReader

from bot.dossiers.forms import default_forms
from bot.dossiers.pdf import date_in_words, number_in_words, render_pdf

TODAY = dt.date(2026, 2, 12)
TK01_ANSWERS = {
    "full_name": "Nguyễn Thị Hồng Nhung", "sex": "Nữ", "birth_date": "1990-03-12", "birth_place": "Hà Nội",
    "personal_id": "001190012345", "ethnicity": "Kinh", "religion": "Không", "phone": "0912345678",
    "email": None, "permanent_address": "Số 5 ngõ 12 Trần Phú, phường Ba Đình, Hà Nội",
    "temporary_address": None, "occupation": "Kế toán", "employer": None, "father_name": "Nguyễn Văn Bình",
    "father_birth_date": "1960-01-02", "mother_name": "Lê Thị Cúc", "mother_birth_date": "1962-05-06",
    "spouse_name": None, "previous_passport": None, "request": "Cấp hộ chiếu lần đầu",
    "chip": "Có gắn chíp điện tử", "other_request": None,
}


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))


@pytest.fixture(scope="module")
def tk01_text():
    pdf = render_pdf(default_forms()["TK01"], TK01_ANSWERS, "HS-2026-K7Q4MP", today=TODAY)
    assert pdf.startswith(b"%PDF")
    return text_of(pdf)


def test_tk01_has_the_name_with_its_diacritics_and_the_form_code(tk01_text):
    assert "Nguyễn Thị Hồng Nhung" in tk01_text                   # signature block
    assert "NGUYỄN THỊ HỒNG NHUNG" in tk01_text                   # field 1, "viết in hoa"
    assert "Mẫu TK01 ban hành kèm theo Thông tư số 31/2023/TT-BCA" in tk01_text
    assert "HS-2026-K7Q4MP" in tk01_text


def test_tk01_layout(tk01_text):
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in tk01_text
    assert "Độc lập - Tự do - Hạnh phúc" in tk01_text
    assert "TỜ KHAI ĐỀ NGHỊ CẤP HỘ CHIẾU PHỔ THÔNG" in tk01_text
    assert "NGƯỜI ĐỀ NGHỊ" in tk01_text and "(Ký, ghi rõ họ tên)" in tk01_text
    # numbered fields in the form's order, values in full (not masked)
    positions = [tk01_text.index(s) for s in ("1. Họ, chữ đệm", "2. Giới tính", "3. Sinh ngày: 12/03/1990",
                                              "5. Số định danh cá nhân: 001190012345",
                                              "8. Số điện thoại: 0912345678", "16. Nội dung đề nghị")]
    assert positions == sorted(positions)
    assert "Nữ ☒" in tk01_text and "Nam ☐" in tk01_text
    assert "Tôi xin cam đoan" in tk01_text


def test_child_passport_is_signed_by_the_parent():
    answers = {"full_name": "Lê Minh Khang", "sex": "Nam", "birth_date": "2015-06-01",
               "rep_relation": "Mẹ", "rep_name": "Trần Thị Mai", "phone": "0912345678"}
    text = text_of(render_pdf(default_forms()["TK01a"], answers, "HS-2026-M3N8PA", today=TODAY))
    assert "Mẫu TK01a" in text
    assert "CHA, MẸ HOẶC NGƯỜI GIÁM HỘ" in text
    assert "Trần Thị Mai" in text and "LÊ MINH KHANG" in text
    assert "NGƯỜI ĐỀ NGHỊ\n" not in text


def test_marriage_form_prints_both_parties_in_a_table():
    answers = {"authority": "Ủy ban nhân dân phường Ba Đình", "female_name": "Trần Thị Mai",
               "male_name": "Lê Văn Hùng", "female_birth_date": "1995-03-12", "male_birth_date": "1990-01-01",
               "female_personal_id": "001195012345", "male_personal_id": "079090012345",
               "copies": "Có", "copies_count": "2 bản", "phone": "0912345678"}
    text = text_of(render_pdf(default_forms()["ket-hon"], answers, "HS-2026-T5X2RB", today=TODAY))
    assert "Kính gửi: Ủy ban nhân dân phường Ba Đình" in text
    for s in ("Bên nữ", "Bên nam", "Trần Thị Mai", "Lê Văn Hùng", "001195012345", "079090012345",
              "BÊN NỮ", "BÊN NAM"):
        assert s in text
    assert "0912345678" not in text                               # the contact phone is not on the paper form


def test_birth_registration_writes_the_date_in_words():
    answers = {"child_name": "Lê Minh An", "child_birth_date": "2025-01-05", "requester_name": "Trần Thị Mai",
               "father_known": "Chưa xác định", "phone": "0912345678"}
    text = text_of(render_pdf(default_forms()["khai-sinh"], answers, "HS-2026-G9H4KC", today=TODAY))
    assert "Ngày năm, tháng một, năm hai nghìn không trăm hai mươi lăm" in text
    assert "Họ, chữ đệm, tên người cha: …" in text                 # left blank, as on paper


def test_checklist_page():
    from bot.dossiers.checklist import ChecklistItem
    items = [ChecklistItem("Giấy khai sinh hoặc trích lục khai sinh", 0, 1, None, "", "Người chưa đủ 14 tuổi",
                           True, False)]
    text = text_of(render_pdf(default_forms()["TK01"], TK01_ANSWERS, "HS-2026-K7Q4MP",
                              checklist_items=items, today=TODAY))
    assert "DANH MỤC GIẤY TỜ CẦN CHUẨN BỊ" in text
    assert "Giấy khai sinh hoặc trích lục khai sinh" in text and "1 bản sao" in text


@pytest.mark.parametrize("n, words", [
    (1, "một"), (10, "mười"), (14, "mười bốn"), (15, "mười lăm"), (21, "hai mươi mốt"), (24, "hai mươi tư"),
    (25, "hai mươi lăm"), (30, "ba mươi"), (105, "một trăm linh năm"), (1990, "một nghìn chín trăm chín mươi"),
    (2000, "hai nghìn"), (2005, "hai nghìn không trăm linh năm"), (2010, "hai nghìn không trăm mười"),
    (2026, "hai nghìn không trăm hai mươi sáu"),
])
def test_numbers_in_words(n, words):
    assert number_in_words(n) == words


def test_date_in_words():
    assert date_in_words(dt.date(2024, 4, 21)) == "Ngày hai mươi mốt, tháng tư, năm hai nghìn không trăm hai mươi tư"

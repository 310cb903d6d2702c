"""Answers from imported records: source, warnings for flagged fields, and within the channels' limits."""

from __future__ import annotations

import pytest

from actions import replies
from procedures import default_catalogue

ZALO_LIMIT, TELEGRAM_LIMIT = 2000, 4096


@pytest.fixture(scope="module")
def catalogue():
    return default_catalogue()


def test_every_answer_of_every_record_fits_a_zalo_message(catalogue):
    assert replies.MAX_CHARS <= min(ZALO_LIMIT, TELEGRAM_LIMIT)
    longest = 0
    for procedure in catalogue:
        for intent in replies.ANSWERS:
            text = replies.answer_text(intent, procedure, catalogue)
            longest = max(longest, len(text))
            assert len(text) <= ZALO_LIMIT, (procedure.id, intent, len(text))
    assert longest > 1500  # long records are shortened, not absent


def test_an_imported_answer_ends_with_its_national_source_and_link(catalogue):
    procedure = catalogue.get("tthc-1-004884")  # Đăng ký lại khai sinh
    text = replies.answer_text("ask_papers", procedure, catalogue)
    assert "Nguồn: Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã 1.004884, bản ngày 01/07/2026." in text
    assert procedure.sources[0].url in text and "thành phố chưa kiểm tra lại" in text
    assert "Giấy tờ cần chuẩn bị — Thủ tục đăng ký lại khai sinh" in text


def test_a_hand_written_answer_has_no_national_source_line(catalogue):
    text = replies.answer_text("ask_fee", catalogue.get("ho-chieu"), catalogue)
    assert "Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã" not in text and "200.000" in text


def test_a_long_list_is_cut_with_a_link_to_the_full_record(catalogue):
    long_one = max((p for p in catalogue if catalogue.is_imported(p.id)),
                   key=lambda p: len(replies.papers_text(p)))  # without the limit's context: raw length
    text = replies.answer_text("ask_papers", long_one, catalogue)
    assert "… Xem đầy đủ: " + replies.portal_link(long_one) in text
    assert text.rstrip().endswith(replies.NOT_CHECKED)  # the source is never cut


def test_a_flagged_field_warns_in_the_answer_that_shows_it(catalogue):
    flagged = next(p for p in catalogue if "expired_fee_note:channels" in catalogue.flags(p.id))
    assert replies.FLAG_WARNINGS["expired_fee_note"] in replies.answer_text("ask_fee", flagged, catalogue)
    assert replies.FLAG_WARNINGS["expired_fee_note"] not in replies.answer_text("ask_papers", flagged, catalogue)
    no_agency = next(p for p in catalogue if "no_agency" in catalogue.flags(p.id))
    where = replies.answer_text("ask_where", no_agency, catalogue)
    assert replies.FLAG_WARNINGS["no_agency"] in where and "nguồn không ghi" in where
    district = next(p for p in catalogue if "district_level:steps" in catalogue.flags(p.id))
    assert replies.FLAG_WARNINGS["district_level"] in replies.answer_text("ask_how", district, catalogue)


def test_the_portal_list_marks_of_cases_and_papers_are_not_repeated(catalogue):
    import re

    text = replies.answer_text("ask_papers", catalogue.get("tthc-2-000806"), catalogue)  # kết hôn có yếu tố nước ngoài
    assert "• Giấy tờ phải nộp:" in text
    assert "• *" not in text and "::" not in text and not re.search(r"^\d+\. - ", text, re.MULTILINE)

"""Real-browser test of the web chat with a procedure imported from the national database:
question → answer with its source → draft dossier → PDF checklist; a question about using the
online services answered from the FAQ with its source; close procedures asked with buttons.

Needs the `stack` fixture (the bot app with Rasa and the action server) and Debian's chromium.
"""

from __future__ import annotations

import io
import re

import httpx
import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests import test_browser
from tests.test_browser import (
    bot_messages,
    message_box,
    new_bot_texts,
    wait_for_greeting,
)

browser = test_browser.browser      # the fixtures, shared with the other browser tests
chat_page = test_browser.chat_page

pytestmark = pytest.mark.stack

IMPORTED_QUESTION = "xóa đăng ký thường trú cho người đã mất cần giấy tờ gì"
# Answers of a made-up applicant to the generic draft, by words of the bot's question.
ANSWERS = [("họ và tên", "Trần Văn Bình"), ("điện thoại", "0912 345 678"), ("ghi chú", "bỏ qua"),
           ("trường hợp", "1")]


def ask(page, text: str) -> str:
    before = bot_messages(page).count()
    message_box(page).fill(text)
    page.get_by_role("button", name="Gửi").click()
    return "\n".join(new_bot_texts(page, before))


def press(page, message, name: str) -> str:
    before = bot_messages(page).count()
    message.get_by_role("button", name=name).first.click()
    return "\n".join(new_bot_texts(page, before))


def test_imported_procedure_answer_draft_and_pdf_checklist(chat_page, stack):
    page = chat_page
    wait_for_greeting(page)
    answer = ask(page, IMPORTED_QUESTION)
    assert "Xóa đăng ký thường trú" in answer
    assert "Nguồn: Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã 1.003197" in answer
    assert "thành phố chưa kiểm tra lại" in answer and "dichvucong.gov.vn" in answer

    reply = press(page, bot_messages(page).last, "Tạo hồ sơ nháp")
    for _ in range(12):
        last = bot_messages(page).last
        if last.get_by_role("button", name="Xác nhận").count():
            reply = press(page, last, "Xác nhận")
            break
        prompt = reply.lower()
        text = next((value for words, value in ANSWERS if words in prompt), None)
        assert text is not None, reply
        reply = ask(page, text)
    assert "/dossiers/pdf/" in reply and re.search(r"HS-\d{4}-[A-Z0-9]{6}", reply)
    link = bot_messages(page).last.locator("a[href*='/dossiers/pdf/']").first.get_attribute("href")
    pdf = httpx.get(stack.base_url + "/dossiers/" + link.split("/dossiers/", 1)[1], timeout=30)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "1.003197" in text and "Trần Văn Bình" in text
    assert "Cơ sở dữ liệu quốc gia về thủ tục hành chính" in text
    assert page.js_errors == []


def test_services_question_answered_from_the_faq_with_its_source(chat_page):
    page = chat_page
    wait_for_greeting(page)
    answer = ask(page, "quên mật khẩu vneid thì làm sao")
    assert "VNeID" in answer and "Nguồn:" in answer and "Cập nhật ngày" in answer


def test_close_procedures_are_asked_with_buttons_and_none_of_these(chat_page):
    page = chat_page
    wait_for_greeting(page)
    ask(page, "đăng ký xe máy mới mua cần giấy tờ gì")
    last = bot_messages(page).last
    buttons = last.get_by_role("button").all_text_contents()
    assert "Không phải các thủ tục trên" in buttons and "Gặp tư vấn viên" in buttons
    offered = [b for b in buttons if b not in ("Không phải các thủ tục trên", "Gặp tư vấn viên")]
    assert 2 <= len(offered) <= 4 and all("xe" in b.lower() for b in offered)
    reply = press(page, last, "Không phải các thủ tục trên")
    assert "viết lại" in reply
    expect(bot_messages(page).last.get_by_role("button", name="Gặp tư vấn viên")).to_be_visible()

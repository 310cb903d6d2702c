"""Real-browser handover (Debian's chromium via Playwright) with two browser contexts on the real stack:

a citizen in the web chat asks for a person; a volunteer logged in to /console sees the chat
appear live, claims it and replies; the citizen sees the reply without reloading; the volunteer
hands back and the bot answers the citizen's next question about the same procedure.
"""

from __future__ import annotations

import re
import uuid

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect

from bot.accounts import AccountStore
from tests.test_browser import (  # noqa: F401  (the browser fixture)
    PHONE_VIEWPORT,
    REPLY_TIMEOUT_MS,
    bot_messages,
    browser,
    message_box,
    new_bot_texts,
    wait_for_greeting,
)

pytestmark = pytest.mark.stack

PASSWORD = "Mật khẩu rất dài 2026"
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def volunteer(stack):
    username = f"tnv.{uuid.uuid4().hex[:8]}"
    accounts = AccountStore.from_settings(stack.settings, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                                               parallelism=1))
    accounts.add(username, PASSWORD, "volunteer", team="phuong-ben-thanh", display_name="Nguyễn Thị Lan")
    accounts.close()
    return username


def ask(page, text: str) -> list[str]:
    before = bot_messages(page).count()
    message_box(page).fill(text)
    page.get_by_role("button", name="Gửi").click()
    return new_bot_texts(page, before)


def test_a_volunteer_takes_over_a_web_chat_live_and_hands_it_back(browser, stack, volunteer):  # noqa: F811
    errors: list = []
    console_context = browser.new_context(viewport=LAPTOP, base_url=stack.base_url)
    citizen_context = browser.new_context(viewport=PHONE_VIEWPORT, base_url=stack.base_url)
    try:
        console = console_context.new_page()
        console.on("pageerror", lambda error: errors.append(error))
        console.goto("/console")
        console.locator("#login-username").fill(volunteer)
        console.locator("#login-password").fill(PASSWORD)
        console.locator("#login-form").get_by_role("button").click()
        expect(console.locator("#logout")).to_be_visible(timeout=10_000)

        chat = citizen_context.new_page()
        chat.on("pageerror", lambda error: errors.append(error))
        chat.goto("/")
        wait_for_greeting(chat)
        answer = "\n".join(ask(chat, "làm hộ chiếu cần giấy tờ gì"))
        assert re.search(r"tờ khai|TK01", answer, re.IGNORECASE), answer
        queued = "\n".join(ask(chat, "cho tôi gặp tư vấn viên"))
        assert "vị trí số" in queued, queued
        conversation_id = chat.evaluate("JSON.parse(localStorage.getItem('tthc.conversation')).id")

        # The waiting chat appears in the console without a reload (server-sent events).
        item = console.locator(f'.conversation-item[data-id="{conversation_id}"]')
        expect(item).to_be_visible(timeout=15_000)
        expect(item).to_contain_text("hộ chiếu")
        item.click()
        expect(console.locator("#transcript")).to_contain_text("làm hộ chiếu cần giấy tờ gì")
        console.locator("#claim").click()
        expect(console.locator("#reply-text")).to_be_enabled(timeout=10_000)

        claimed = chat.locator(".msg--bot", has_text="đã nhận cuộc trò chuyện")
        expect(claimed).to_be_visible(timeout=REPLY_TIMEOUT_MS)

        # The citizen writes: no bot answer, the volunteer sees it live.
        bots_before = bot_messages(chat).count()
        message_box(chat).fill("lệ phí làm hộ chiếu bao nhiêu")
        chat.get_by_role("button", name="Gửi").click()
        expect(console.locator("#transcript .msg--citizen", has_text="lệ phí làm hộ chiếu bao nhiêu")) \
            .to_be_visible(timeout=15_000)

        reply = "Chào bạn, lệ phí hộ chiếu làm trực tuyến là 180.000 đồng."
        console.locator("#reply-text").fill(reply)
        console.locator("#reply-send").click()
        from_volunteer = chat.locator(".msg--volunteer", has_text=reply)
        expect(from_volunteer).to_be_visible(timeout=15_000)          # no reload: pushed to the page
        expect(from_volunteer).to_contain_text("Tư vấn viên")
        assert bot_messages(chat).count() == bots_before + 1           # only the volunteer's reply

        console.locator("#release").click()
        expect(chat.locator(".msg--bot", has_text="trả lại cuộc trò chuyện cho trợ lý")) \
            .to_be_visible(timeout=15_000)
        answer = "\n".join(ask(chat, "thế nộp ở đâu"))
        assert "hộ chiếu" in answer.lower(), answer                    # the bot kept the procedure
        assert not errors, errors
    finally:
        console_context.close()
        citizen_context.close()

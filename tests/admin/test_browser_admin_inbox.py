"""The inbox and intents tabs in a real browser (Debian's chromium via Playwright): a staff member
assigns an intent to a message the bot did not understand, marks another out of scope, then
finds, edits and deletes the new example on the intents tab; a volunteer flags a wrong answer
from the console and it appears in the inbox."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from bot.app import create_app
from bot.settings import ROOT
from tests.admin.conftest import PASSWORD, USERS
from tests.admin.test_admin_inbox import Chats, fallback
from tests.admin.test_browser_admin_dashboard import LAPTOP, log_in
from tests.test_browser import browser  # noqa: F401  (the browser fixture)
from tests.webchat import AppServer


def seed(config) -> None:
    chats = Chats(config)
    for n in range(2):
        fallback(chats, f"web-b{n}", "thủ tục cấp thẻ bảo hiểm y tế cho bé", best="ask_procedure")
    fallback(chats, "web-g", "giá vàng hôm nay thế nào", best="ask_fee")


def test_staff_assign_an_intent_and_edit_the_example(browser, admin_config, tmp_path):  # noqa: F811
    nlu_dir = tmp_path / "nlu_data"
    shutil.copytree(ROOT / "nlu_data", nlu_dir)
    with ThreadPoolExecutor(1) as pool:   # Playwright's sync API owns this thread's event loop
        pool.submit(seed, admin_config).result()
    app = create_app(admin_config)
    app.state.nlu_data_dir = nlu_dir
    with AppServer(app) as server:
        context = browser.new_context(viewport=LAPTOP, base_url=server.url)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        page.on("dialog", lambda dialog: dialog.accept())
        log_in(page, "staff")
        expect(page.locator("#admin-view")).to_be_visible(timeout=10_000)
        page.get_by_role("tab", name="Câu chưa hiểu").click()
        rows = page.locator("#inbox-list .inbox-row")
        expect(rows).to_have_count(2, timeout=10_000)
        first = rows.first
        expect(first.locator(".inbox-text")).to_have_text("thủ tục cấp thẻ bảo hiểm y tế cho bé")
        expect(first.locator(".inbox-intent")).to_have_value("ask_procedure")
        first.locator(".inbox-intent").select_option("ask_papers")
        first.locator("[data-action=assign]").click()
        expect(page.locator("#admin-notice")).to_contain_text("ask_papers")
        expect(rows).to_have_count(1)
        rows.first.locator("[data-action=out-of-scope]").click()
        expect(page.locator("#inbox-empty")).to_be_visible()
        assert "giá vàng hôm nay thế nào" in (nlu_dir / "nlu" / "learned" / "chitchat.yml").read_text(encoding="utf-8")

        page.get_by_role("tab", name="Ý định & ví dụ").click()
        row = page.locator("tr[data-intent=ask_papers]")
        expect(row).to_be_visible(timeout=10_000)
        row.get_by_role("button", name="Xem câu ví dụ").click()
        learned = page.locator("li.example", has_text="thủ tục cấp thẻ bảo hiểm y tế cho bé")
        expect(learned).to_contain_text("mới thêm")
        learned.locator("[data-action=edit]").click()
        page.locator("li.example input[type=text]").fill("thủ tục cấp thẻ bảo hiểm y tế cho trẻ em")
        page.get_by_role("button", name="Lưu").click()
        edited = page.locator("li.example", has_text="cho trẻ em")
        expect(edited).to_be_visible()
        edited.locator("[data-action=delete]").click()
        expect(page.locator("#admin-notice")).to_have_text("Đã xoá câu ví dụ.")
        expect(page.locator("li.example", has_text="cho trẻ em")).to_have_count(0)
        assert errors == []
        context.close()


def test_a_volunteer_flags_a_wrong_answer_from_the_console(browser, admin_config, tmp_path):  # noqa: F811
    def write() -> None:
        chats = Chats(admin_config)
        chats.handovers.request("web-flag", "web", "asked")
        chats.say("web-flag", "lệ phí trước bạ xe máy cũ bao nhiêu", "ask_fee", 0.9)
        chats.answer("web-flag", "Lệ phí làm hộ chiếu: 200.000 đồng.")

    with ThreadPoolExecutor(1) as pool:
        pool.submit(write).result()
    app = create_app(admin_config)
    app.state.nlu_data_dir = tmp_path / "nlu_data"
    with AppServer(app) as server:
        page = browser.new_context(viewport=LAPTOP, base_url=server.url).new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        page.goto("/console")
        page.locator("#login-username").fill(USERS["volunteer"])
        page.locator("#login-password").fill(PASSWORD)
        page.locator("#login-form").get_by_role("button").click()
        page.locator('.conversation-item[data-id="web-flag"]').click()
        answer = page.locator("#transcript .msg--bot", has_text="Lệ phí làm hộ chiếu")
        answer.get_by_role("button", name="Báo câu trả lời sai").click()
        expect(answer.get_by_role("button", name="Đã báo câu trả lời sai")).to_be_disabled()
        assert errors == []

        staff = browser.new_context(viewport=LAPTOP, base_url=server.url).new_page()
        log_in(staff, "staff")
        staff.get_by_role("tab", name="Câu chưa hiểu").click()
        row = staff.locator("#inbox-list .inbox-row")
        expect(row).to_have_count(1, timeout=10_000)
        expect(row).to_contain_text("lệ phí trước bạ xe máy cũ bao nhiêu")
        expect(row).to_contain_text("Tình nguyện viên báo trả lời sai")

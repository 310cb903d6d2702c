"""Real-browser test of the web chat page (Debian's chromium driven by Playwright).

Needs the `stack` fixture (tests/conftest.py): the bot app with Rasa and the
action server behind it, reachable at `stack.base_url`.
"""
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.stack

SCREENS_DIR = Path(__file__).resolve().parents[1] / "build" / "screens"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE_VIEWPORT = {"width": 375, "height": 812}
REPLY_TIMEOUT_MS = 30_000
PASSPORT_QUESTION = "làm hộ chiếu cần giấy tờ gì"
HTML_INPUT = "<b>x</b><script>window.pwned=1</script>"

TRANSCRIPT_JS = """
items => items.map(item => [
  item.classList.contains('msg--user') ? 'user' : 'bot',
  (item.querySelector('.msg__bubble') || {textContent: ''}).textContent,
])
"""


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium package must be installed (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def chat_page(browser, stack):
    """A fresh browser context (so a new conversation) with the chat page open."""
    context = browser.new_context(viewport=PHONE_VIEWPORT, base_url=stack.base_url)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(error))
    page.goto("/")
    yield page
    context.close()


def bot_messages(page):
    return page.locator(".msg--bot")


def user_bubbles(page):
    return page.locator(".msg--user .msg__bubble")


def message_box(page):
    return page.get_by_label("Câu hỏi của bạn")


def wait_until_idle(page):
    """Waits until no request to the bot is in flight (typing indicator gone)."""
    expect(page.locator("#typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)


def wait_for_greeting(page):
    """The greeting is one or more bot messages; returns the one with the procedure buttons."""
    greeting = bot_messages(page).filter(has=page.get_by_role("button")).first
    expect(greeting).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(greeting.get_by_role("button").first).to_be_visible()
    wait_until_idle(page)
    return greeting


def new_bot_texts(page, count_before):
    """Waits for the bot's answer and returns the texts of the messages it added."""
    expect(bot_messages(page).nth(count_before)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    wait_until_idle(page)
    return bot_messages(page).all_text_contents()[count_before:]


def transcript(page):
    return page.locator(".msg").evaluate_all(TRANSCRIPT_JS)


def test_conversation_survives_reload(chat_page):
    page = chat_page
    expect(page).to_have_title("Trợ lý thủ tục hành chính")
    greeting = wait_for_greeting(page)
    expect(user_bubbles(page)).to_have_count(0)  # the automatic /greet shows no bubble

    bots_before = bot_messages(page).count()
    message_box(page).fill(PASSPORT_QUESTION)
    page.get_by_role("button", name="Gửi").click()
    expect(user_bubbles(page).last).to_have_text(PASSPORT_QUESTION)
    expect(message_box(page)).to_have_value("")
    answer = "\n".join(new_bot_texts(page, bots_before))
    assert re.search(r"TK01|tờ khai", answer, re.IGNORECASE), answer

    passport = greeting.get_by_role("button", name="Làm hộ chiếu")
    button = passport if passport.count() else greeting.get_by_role("button").first
    title = button.text_content()
    bots_before = bot_messages(page).count()
    button.click()
    expect(user_bubbles(page).last).to_have_text(title)
    assert new_bot_texts(page, bots_before)

    shown = transcript(page)
    assert [role for role, _ in shown].count("user") == 2
    page.reload()
    expect(page.locator(".msg")).to_have_count(len(shown), timeout=REPLY_TIMEOUT_MS)
    assert transcript(page) == shown
    expect(bot_messages(page).get_by_role("button").first).to_be_visible()
    assert page.js_errors == []

    SCREENS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS_DIR / "chat.png"))


def test_user_html_is_shown_as_text_not_executed(chat_page):
    page = chat_page
    wait_for_greeting(page)

    message_box(page).fill(HTML_INPUT)
    message_box(page).press("Enter")
    bubble = user_bubbles(page).last
    expect(bubble).to_have_text(HTML_INPUT)
    expect(bubble.locator("b, script")).to_have_count(0)
    wait_until_idle(page)
    assert page.evaluate("typeof window.pwned") == "undefined"

    page.reload()  # the history is rendered by a different code path
    bubble = user_bubbles(page).last
    expect(bubble).to_have_text(HTML_INPUT, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".msg__bubble b, .msg__bubble script")).to_have_count(0)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.js_errors == []

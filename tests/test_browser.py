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


# --- the widget on a city page -----------------------------------------------------------------

WIDGET_TITLE = "Trò chuyện với trợ lý thủ tục hành chính"
HOST_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cổng dịch vụ công thành phố</title></head>
<body><h1>Cổng dịch vụ công thành phố</h1><p><a href="#tin-tuc">Tin tức</a></p>
<script src="{bot}/widget.js" defer></script></body></html>"""


@pytest.fixture
def widget_site(stack):
    """A city page on another origin (localhost, not 127.0.0.1: another site) embedding the widget of
    a bot app that lists it in WIDGET_ORIGINS. That app shares the stack's Rasa, database and key."""
    from dataclasses import replace

    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from bot.app import create_app
    from bot.processes import free_port
    from tests.loopback import LoopbackServer
    from tests.webchat import AppServer

    host_port, bot_port = free_port(), free_port()
    host_origin, bot_url = f"http://localhost:{host_port}", f"http://127.0.0.1:{bot_port}"
    config = replace(stack.settings, port=bot_port, widget_origins=(host_origin,))
    page = HOST_PAGE.format(bot=bot_url)
    host = Starlette(routes=[Route("/", lambda request: HTMLResponse(page))])
    with AppServer(create_app(config), port=bot_port), LoopbackServer(host, host_port):
        yield host_origin


def chat_frame(page):
    frame = next((f for f in page.frames if "embed=1" in f.url), None)
    assert frame is not None, [f.url for f in page.frames]
    return frame


def test_widget_on_a_city_page_answers_and_receives_a_state_change_live(browser, stack, widget_site):
    from bot import staff
    from bot.dossiers import DossierStore
    from tests.test_staff import TK01_ANSWERS

    context = browser.new_context(viewport=PHONE_VIEWPORT)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(error))
    try:
        page.goto(widget_site + "/")
        expect(page.get_by_role("button", name="Hỏi trợ lý thủ tục")).to_be_visible()
        # by its attribute: on a phone the full-screen panel hides the launcher while it is open
        launcher = page.locator('button[data-tthc-widget="launcher"]')
        expect(launcher).to_have_attribute("aria-expanded", "false")
        panel_id = launcher.get_attribute("aria-controls")
        panel = page.locator(f"#{panel_id}")
        expect(panel).to_be_hidden()

        launcher.focus()                                   # keyboard only
        page.keyboard.press("Enter")
        expect(launcher).to_have_attribute("aria-expanded", "true")
        expect(panel).to_be_visible()
        expect(page.get_by_role("dialog", name="Trợ lý thủ tục hành chính")).to_be_visible()
        box = panel.bounding_box()                         # a phone: the panel fills the screen
        assert box["width"] >= PHONE_VIEWPORT["width"] - 1 and box["height"] >= PHONE_VIEWPORT["height"] - 1

        frame = page.frame_locator(f'iframe[title="{WIDGET_TITLE}"]')
        expect(frame.locator("#messages")).to_have_attribute("aria-live", "polite")
        greeting = frame.locator(".msg--bot").filter(has=frame.get_by_role("button")).first
        expect(greeting).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        expect(frame.locator("#typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)

        bots_before = frame.locator(".msg--bot").count()
        frame.get_by_label("Câu hỏi của bạn").fill(PASSPORT_QUESTION)
        frame.get_by_label("Câu hỏi của bạn").press("Enter")
        expect(frame.locator(".msg--user .msg__bubble").last).to_have_text(PASSPORT_QUESTION)
        expect(frame.locator(".msg--bot").nth(bots_before)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        expect(frame.locator("#typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
        answer = "\n".join(frame.locator(".msg--bot").all_text_contents()[bots_before:])
        assert re.search(r"TK01|tờ khai", answer, re.IGNORECASE), answer

        # A clerk changes the state of this conversation's dossier from another store (as the staff CLI does).
        # (this Chromium refuses the cross-site iframe its storage: widget.js keeps the pair on the city page)
        conversation_id = chat_frame(page).evaluate("""() => {
            try { return JSON.parse(localStorage.getItem('tthc.conversation')).id; } catch (e) { return null; }
        }""") or page.evaluate("JSON.parse(localStorage.getItem('tthc-widget.conversation')).id")
        assert conversation_id.startswith("web-")
        code = DossierStore(stack.settings.app_db).create("ho-chieu", conversation_id, TK01_ANSWERS, form_id="TK01",
                                                          phone=TK01_ANSWERS["phone"]).code
        staff.change_state(stack.settings, code, "da_nop", actor="canbo:thu-nghiem")
        notice = frame.locator(".msg--bot", has_text=code)
        expect(notice).to_be_visible(timeout=10_000)       # pushed into the open panel, no reload
        expect(notice).to_contain_text("Đã nộp")
        expect(notice).to_have_count(1)
        shown = frame.locator(".msg").evaluate_all(TRANSCRIPT_JS)

        frame.get_by_label("Câu hỏi của bạn").press("Escape")   # Escape inside the iframe closes the panel
        expect(panel).to_be_hidden()
        expect(launcher).to_have_attribute("aria-expanded", "false")
        expect(launcher).to_be_focused()

        page.reload()                                      # the conversation survives a reload of the city page
        page.get_by_role("button", name="Hỏi trợ lý thủ tục").click()
        frame = page.frame_locator(f'iframe[title="{WIDGET_TITLE}"]')
        expect(frame.locator(".msg")).to_have_count(len(shown), timeout=REPLY_TIMEOUT_MS)
        assert frame.locator(".msg").evaluate_all(TRANSCRIPT_JS) == shown
        page.get_by_role("button", name="Đóng cửa sổ trợ lý thủ tục").click()
        expect(page.locator(f"#{panel_id}")).to_be_hidden()
        assert page.js_errors == []
        SCREENS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS_DIR / "widget.png"))
    finally:
        context.close()

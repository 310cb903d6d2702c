"""Security headers: the page and the API sent no CSP, nosniff or Referrer-Policy.

Every response — page, static files, API, errors, PDF links, 404/405, 413, 429, 500 — must carry
them, and the page must still work under that CSP (no inline script or style).
"""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from bot import app as app_module
from bot import settings
from bot.app import CSP, create_app
from tests.conftest import free_port
from tests.webchat import new_conversation

EXPECTED = {
    "content-security-policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'self'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=0.5,
                   staff_token="staff-token", secret_override="test-secret", rate_limit_per_minute=3)


@pytest.fixture
def client(config):
    with TestClient(create_app(config), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_headers(response):
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], (response.request.url, name, response.headers)


def test_csp_is_the_agreed_policy():
    assert CSP == EXPECTED["content-security-policy"]


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/", {}),
    ("GET", "/static/chat.js", {}),
    ("GET", "/static/chat.css", {}),
    ("GET", "/static/nope.js", {}),
    ("GET", "/healthz", {}),
    ("GET", "/api/conversations/web-1/messages", {}),
    ("GET", "/api/conversations/bad%20id/messages", {}),
    ("POST", "/api/messages", {"json": {"conversation_id": "web-1", "text": "hộ chiếu"}}),
    ("POST", "/api/messages", {"json": {"conversation_id": 1}}),
    ("POST", "/api/messages", {"content": b"x", "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/api/messages", {"content": b"x" * 70_000, "headers": {"Content-Type": "application/json"}}),
    ("GET", "/api/messages", {}),
    ("GET", "/no/such/page", {}),
    ("GET", "/dossiers/pdf/HS-2026-000001.forged", {}),
    ("GET", "/api/staff/dossiers", {}),
    ("GET", "/api/staff/dossiers", {"headers": {"Authorization": "Bearer staff-token"}}),
    ("GET", "/api/staff/messages/failed", {"headers": {"Authorization": "Bearer staff-token"}}),
])
def test_every_response_carries_the_headers(client, method, path, kwargs):
    assert_headers(client.request(method, path, **kwargs))


def test_rate_limited_answer_carries_the_headers(client):
    responses = [client.get("/api/conversations/web-1/messages") for _ in range(4)]
    assert responses[-1].status_code == 429
    assert_headers(responses[-1])


def test_server_error_carries_the_headers(client, monkeypatch):
    async def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(client.app.state.router, "handle", explode)
    conversation_id, owner = new_conversation(client)
    response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": "hộ chiếu"},
                           headers=owner)
    assert response.status_code == 500
    assert_headers(response)


def test_headers_a_handler_set_are_not_duplicated(config, client):
    # dossier_pdf sets nosniff and no-referrer itself; the error page does too (Cache-Control)
    response = client.get("/dossiers/pdf/HS-2026-000001.forged")
    assert response.status_code == 404
    assert_headers(response)
    assert response.headers["cache-control"] == "no-store"


class _InlineFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs:
            self.problems.append(f"style attribute on <{tag}>")
        if any(name.startswith("on") for name in attrs):
            self.problems.append(f"inline event handler on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            if not attrs.get("src"):
                self.problems.append("inline <script>")
            elif re.match(r"^(https?:)?//", attrs["src"]):
                self.problems.append("script from another origin")
        if tag == "link" and attrs.get("rel") == "stylesheet" and re.match(r"^(https?:)?//", attrs.get("href", "")):
            self.problems.append("stylesheet from another origin")
        for name in ("href", "src", "action"):
            if attrs.get(name, "").lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name}")


def inline_problems(html: str) -> list[str]:
    finder = _InlineFinder()
    finder.feed(html)
    return finder.problems


def test_pages_have_nothing_inline_that_the_csp_would_block(client):
    assert inline_problems(client.get("/").text) == []
    assert inline_problems(app_module._page("Thử", 404).body.decode()) == []


def test_static_files_load_nothing_from_elsewhere(client):
    script = client.get("/static/chat.js").text
    css = client.get("/static/chat.css").text
    assert not re.search(r"\beval\(|new Function\(|\.innerHTML\s*=|setAttribute\(\s*[\"']style", script)
    assert not re.search(r"@import|url\(\s*[\"']?(https?:)?//", css)
    assert not re.search(r"fetch\(\s*[\"']https?://", script)


def test_the_page_works_in_a_browser_under_the_csp(config):
    """Chromium loads the page with the app's real headers: no CSP violation, the chat works."""
    import shutil

    from playwright.sync_api import expect, sync_playwright
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.loopback import LoopbackServer

    executable = shutil.which("chromium")
    if not executable:
        pytest.skip("Debian's chromium is not installed")

    async def webhook(request):
        body = await request.json()
        return JSONResponse([{"recipient_id": body["sender"], "text": "Xin chào, mình giúp gì được bạn?",
                              "buttons": [{"title": "Lệ phí", "payload": "/ask_fee"}]}])

    fake_rasa = Starlette(routes=[Route("/webhooks/rest/webhook", webhook, methods=["POST"]),
                                  Route("/", lambda r: JSONResponse({}))])
    config = replace(config, rate_limit_per_minute=0)
    with LoopbackServer(fake_rasa, config.rasa_port), TestClient(create_app(config)) as client, \
            sync_playwright() as playwright:
        def handle(route, request):
            path = request.url.split("http://chat.test", 1)[1]
            if path.endswith("/events"):   # an endless stream cannot go through TestClient: the page polls
                route.abort()
                return
            response = client.request(request.method, path, content=request.post_data_buffer,
                                      headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
            route.fulfill(status=response.status_code, body=response.content,
                          headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"})

        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            console, errors = [], []
            page.on("console", lambda message: console.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", handle)
            response = page.goto("http://chat.test/")
            assert response.headers["content-security-policy"] == CSP
            expect(page.locator(".msg--bot").first).to_be_visible(timeout=10_000)   # the greeting turn
            expect(page.locator("#typing")).to_be_hidden(timeout=10_000)
            assert page.evaluate("getComputedStyle(document.querySelector('.composer__send')).display") != "inline"
            box = page.get_by_label("Câu hỏi của bạn")
            box.fill("dòng một\ndòng hai\ndòng ba")                          # autoResize sets style.height
            box.press("Enter")
            expect(page.locator(".msg--user .msg__bubble").last).to_contain_text("dòng một")
            expect(page.locator(".msg--bot").last).to_contain_text("Xin chào", timeout=10_000)
            violations = [text for text in console if "Content Security Policy" in text or "Refused to" in text]
            assert violations == [] and errors == []
        finally:
            browser.close()

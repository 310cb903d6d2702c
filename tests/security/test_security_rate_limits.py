"""Rate limits on the public routes: one client could post, poll and fetch PDFs without bound.

Per client address (RATE_LIMIT_PER_MINUTE) on POST /api/messages, GET
/api/conversations/{id}/messages and GET /dossiers/pdf/{token}; per conversation
(CONVERSATION_RATE_PER_MINUTE) on POST /api/messages. Persisted: a restart of the app does
not reset them. Keys are stored as HMAC digests (no client address in limits.db).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot import settings
from bot.app import create_app
from bot.ratelimit import RateLimiter
from bot.web_sessions import HEADER, WebSessions
from tests.conftest import free_port
from tests.loopback import LoopbackServer
from tests.webchat import ANSWERING_RASA as fake_rasa

ATTACKER = ("203.0.113.7", 40000)
NEIGHBOUR = ("198.51.100.20", 40001)


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=1.0,
                   secret_override="test-secret", rate_limit_per_minute=6, conversation_rate_per_minute=3)


@pytest.fixture
def rasa(config):
    with LoopbackServer(fake_rasa, config.rasa_port) as server:
        yield server


def app_client(config, address=ATTACKER):
    return TestClient(create_app(config), client=address)


# The test's names for conversations → ids issued with the app's key, without POST /api/conversations
# (which would count as hits from the address and change the arithmetic of these tests).
ISSUED: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _fresh_conversations():
    ISSUED.clear()


def issued(config, name: str) -> tuple[str, dict[str, str]]:
    sessions = WebSessions(config.derived_secret("web-conversation"))
    if name not in ISSUED:
        ISSUED[name] = sessions.issue()[0]
    return ISSUED[name], {HEADER: sessions.token(ISSUED[name])}


def post(client, conversation_id="web-1", text="lệ phí hộ chiếu"):
    real_id, headers = issued(client.app.state.config, conversation_id)
    return client.post("/api/messages", json={"conversation_id": real_id, "text": text}, headers=headers)


def history(client, conversation_id):
    real_id, headers = issued(client.app.state.config, conversation_id)
    return client.get(f"/api/conversations/{real_id}/messages", headers=headers)


def stored(config, conversation_id) -> list[str]:
    real_id = issued(config, conversation_id)[0]
    with sqlite3.connect(config.app_db) as db:
        return [row[0] for row in db.execute("SELECT text FROM messages WHERE conversation_id = ? AND direction = 'in'",
                                             (real_id,))]


def assert_polite_429(response):
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) == 60
    error = response.json()["error"]
    assert error.startswith("Bạn gửi nhanh quá"), error


def test_one_conversation_is_limited_and_the_refused_message_is_not_stored(config, rasa):
    with app_client(config) as client:
        assert [post(client, text=f"câu {i}").status_code for i in range(3)] == [200, 200, 200]
        assert_polite_429(post(client, text="câu thứ tư"))
        assert "câu thứ tư" not in stored(config, "web-1")
        assert post(client, conversation_id="web-2").status_code == 200   # another conversation is not blocked


def test_one_client_address_is_limited_across_conversations_and_routes(config, rasa):
    with app_client(config) as client, app_client(config, NEIGHBOUR) as neighbour:
        assert [post(client, conversation_id=f"c-{i}").status_code for i in range(3)] == [200] * 3
        assert history(client, "c-0").status_code == 200
        assert client.get("/dossiers/pdf/HS-2026-000001.forged").status_code == 404
        assert history(client, "c-1").status_code == 200
        assert_polite_429(post(client, conversation_id="c-new"))            # 7th hit from this address
        assert_polite_429(history(client, "c-0"))
        page = client.get("/dossiers/pdf/HS-2026-000001.forged")
        assert page.status_code == 429 and page.headers["retry-after"] == "60"
        assert "text/html" in page.headers["content-type"] and "nhanh quá" in page.text
        assert stored(config, "c-new") == []
        assert post(neighbour, conversation_id="c-new").status_code == 200  # other citizens are not punished
        assert client.get("/healthz").status_code == 200                   # not a limited route


def test_bad_requests_count_too(config, rasa):
    with app_client(config) as client:
        for _ in range(6):
            assert client.post("/api/messages", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
        assert_polite_429(post(client))


def test_limits_survive_a_restart(config, rasa):
    with app_client(config) as client:
        for i in range(3):
            post(client, text=f"câu {i}")
    with app_client(config) as restarted:                                  # new app instance, same data dir
        assert_polite_429(post(restarted, text="sau khi khởi động lại"))
    with app_client(replace(config, data_dir=config.data_dir)) as again:
        for _ in range(2):
            history(again, "web-1")
        assert_polite_429(history(again, "web-1"))


def test_retry_after_is_honest(config, rasa):
    with app_client(config) as client:
        for i in range(3):
            post(client, text=f"câu {i}")
        assert_polite_429(post(client))
        later = time.time() + 61                                           # Retry-After seconds later
        client.app.state.limits = RateLimiter(config.limits_db, clock=lambda: later,
                                              key_secret=config.derived_secret("rate-limit"))
        assert post(client, text="một phút sau").status_code == 200


def test_limits_db_holds_no_address_or_conversation_id(config, rasa):
    with app_client(config) as client:
        post(client, conversation_id="conversation-of-lan")
        history(client, "conversation-of-lan")
    with sqlite3.connect(config.limits_db) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM hits")]
    assert keys and all(len(key) == 32 and int(key, 16) >= 0 for key in keys)
    dump = "\n".join(sqlite3.connect(config.limits_db).iterdump())
    assert "203.0.113.7" not in dump and ISSUED["conversation-of-lan"] not in dump


def test_zero_turns_a_limit_off(config, rasa):
    with app_client(replace(config, rate_limit_per_minute=0, conversation_rate_per_minute=0)) as client:
        assert all(post(client, text=f"câu {i}").status_code == 200 for i in range(10))


# --- the web chat in a real browser (the app answered through TestClient) ------------------------

def _chromium():
    import shutil

    executable = shutil.which("chromium")
    if not executable:
        pytest.skip("Debian's chromium is not installed")
    return executable


def _serve_app_to(page, client, override=None):
    """Every request of ``page`` is answered by the app behind ``client`` (or by ``override``)."""

    def handle(route, request):
        path = request.url.split("http://chat.test", 1)[1]
        if path.endswith("/events"):   # an endless stream cannot go through TestClient: the page polls
            route.abort()
            return
        if override and (answer := override(request, path)):
            route.fulfill(**answer)
            return
        response = client.request(request.method, path, content=request.post_data_buffer,
                                  headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
        route.fulfill(status=response.status_code, body=response.content,
                      headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"})

    page.route("**/*", handle)


@pytest.mark.parametrize("status", [429, 413, 400])
def test_web_chat_shows_refusals_politely(config, rasa, status):
    from playwright.sync_api import expect, sync_playwright

    config = replace(config, conversation_rate_per_minute=1)               # the greeting uses the only turn
    with app_client(config) as client, sync_playwright() as playwright:
        refusal = None
        if status == 413:
            refusal = client.post("/api/messages", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
        elif status == 400:
            refusal = client.post("/api/messages", json={"conversation_id": "web-1", "title": ["x"]})

        def override(request, path):
            if (refusal is not None and request.method == "POST" and path == "/api/messages"
                    and "/greet" not in (request.post_data or "")):
                return {"status": refusal.status_code, "body": refusal.content,
                        "headers": {"Content-Type": "application/json"}}
            return None

        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            _serve_app_to(page, client, override)
            page.goto("http://chat.test/")
            expect(page.locator(".msg--bot").first).to_be_visible(timeout=10_000)
            expect(page.locator("#typing")).to_be_hidden(timeout=10_000)
            page.get_by_label("Câu hỏi của bạn").fill("lệ phí làm hộ chiếu")
            page.get_by_role("button", name="Gửi").click()
            notice = page.locator("#notice")
            expect(notice).to_be_visible(timeout=10_000)
            expected = {429: "Bạn gửi nhanh quá", 413: "quá lớn", 400: "không hợp lệ"}[status]
            expect(notice).to_contain_text(expected)
            expect(page.get_by_label("Câu hỏi của bạn")).to_have_value("lệ phí làm hộ chiếu")  # nothing lost
            expect(page.locator(".msg--user")).to_have_count(0)                              # no false bubble
            expect(page.get_by_role("button", name="Gửi")).to_be_enabled()
            assert errors == []
        finally:
            browser.close()

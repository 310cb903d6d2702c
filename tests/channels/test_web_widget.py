"""The embeddable widget: /widget.js, the compact page /?embed=1, and who may frame the page."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot import settings
from bot.app import CSP, create_app, page_csp, widget_origins
from tests.conftest import free_port

CITY = "https://dichvucong.example.gov.vn"


def client_for(tmp_path, origins=()):
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), secret_override="widget-secret",
                     widget_origins=tuple(origins))
    return TestClient(create_app(config))


def test_widget_script_is_served_and_builds_everything_with_the_dom(tmp_path):
    with client_for(tmp_path) as client:
        response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    script = response.text
    assert "Hỏi trợ lý thủ tục" in script and "/?embed=1" in script
    assert "aria-expanded" in script and "aria-controls" in script and "Escape" in script
    assert not re.search(r"\beval\(|new Function\(|innerHTML|insertAdjacentHTML|document\.write|"
                         r"createElement\(\s*[\"']style", script)


def test_the_embedded_page_is_the_chat_in_a_compact_layout(tmp_path):
    with client_for(tmp_path) as client:
        page = client.get("/?embed=1").text
        normal = client.get("/").text
    assert '<html lang="vi" class="embed">' in page and 'class="embed"' not in normal
    assert 'aria-live="polite"' in page and 'href="/?embed=1" class="app__restart"' in page


def test_without_widget_origins_only_this_origin_frames_anything(tmp_path):
    with client_for(tmp_path) as client:
        for path in ("/", "/?embed=1", "/healthz", "/widget.js"):
            response = client.get(path)
            assert response.headers["content-security-policy"] == CSP
            assert response.headers["x-frame-options"] == "SAMEORIGIN"


def test_widget_origins_may_frame_the_page_and_nothing_else(tmp_path):
    with client_for(tmp_path, (CITY, "http://localhost:8080")) as client:
        page = client.get("/?embed=1")
        assert page.headers["content-security-policy"].endswith(
            f"frame-ancestors 'self' {CITY} http://localhost:8080")
        assert "x-frame-options" not in page.headers        # it could only contradict frame-ancestors
        for response in (client.post("/api/conversations"), client.get("/healthz"),
                         client.get("/api/conversations/web-xxxxxxxxxxxxxxxx/messages")):
            assert response.headers["content-security-policy"] == CSP
            assert response.headers["x-frame-options"] == "SAMEORIGIN"


@pytest.mark.parametrize("bad", ["https://a.vn; script-src *", "'unsafe-inline'", "*", "javascript:alert(1)",
                                 "https://a.vn/path", "ftp://a.vn", "https://"])
def test_malformed_widget_origins_are_ignored(bad):
    assert widget_origins((bad, CITY + "/")) == (CITY,)
    assert page_csp(widget_origins((bad,))) == CSP

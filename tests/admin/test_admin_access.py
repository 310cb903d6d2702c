"""Who may use the staff tools: staff and admin; volunteers and supervisors get 403 on every
``/admin`` route, anonymous callers 401, and changes need the CSRF token."""

from __future__ import annotations

import re

import pytest

from bot.admin import routes


def _concrete(path: str) -> str:
    """A path for a route template: every ``{param}`` becomes a plausible value."""
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.mark.parametrize("role", ["volunteer", "supervisor"])
def test_volunteers_and_supervisors_get_403_everywhere(login, role):
    browser = login(role)
    for route in routes():
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            path = _concrete(route.path)
            response = browser.send(method, path, {} if method != "GET" else None)
            assert response.status_code == 403, (method, path, response.status_code)


def test_anonymous_gets_the_login_page_and_401_on_the_api(login):
    browser = login(None)
    page = browser.get("/admin")
    assert page.status_code == 200 and "Đăng nhập" in page.text
    assert browser.get("/admin/api/procedures").status_code == 401
    assert browser.get("/admin/api/nothing-here").status_code == 401


def test_staff_and_admin_get_the_page(login):
    for role in ("staff", "admin"):
        page = login(role).get("/admin")
        assert page.status_code == 200 and "admin.js" in page.text


def test_a_change_without_csrf_is_refused(login):
    browser = login("staff")
    assert browser.post("/admin/api/does-not-exist", {}, csrf=False).status_code == 403
    assert browser.post("/admin/api/does-not-exist", {}).status_code == 404

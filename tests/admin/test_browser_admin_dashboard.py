"""The staff dashboard in a real browser (Debian's chromium via Playwright): a staff member logs
in at /admin, opens "Thống kê", sees the totals and the charts (drawn by Chart.js) and downloads
the CSV; a volunteer's session gets the 403 page."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from bot.app import create_app
from tests.admin.conftest import PASSWORD, USERS
from tests.admin.test_admin_dashboard import seed
from tests.test_browser import browser  # noqa: F401  (the browser fixture)
from tests.webchat import AppServer

LAPTOP = {"width": 1280, "height": 900}


def log_in(page, role):
    page.goto("/admin")
    page.locator("#login-username").fill(USERS[role])
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-submit").click()


def test_staff_see_the_dashboard_charts_and_download_the_csv(browser, admin_config):  # noqa: F811
    with ThreadPoolExecutor(1) as pool:   # Playwright's sync API owns this thread's event loop
        pool.submit(asyncio.run, seed(admin_config)).result()
    with AppServer(create_app(admin_config)) as server:
        context = browser.new_context(viewport=LAPTOP, base_url=server.url, accept_downloads=True)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        log_in(page, "staff")
        expect(page.locator("#admin-view")).to_be_visible(timeout=10_000)
        page.get_by_role("tab", name="Thống kê").click()
        expect(page.locator("#dash-totals")).to_contain_text("Cuộc trò chuyện", timeout=10_000)
        expect(page.locator("#dash-totals")).to_contain_text("3")
        for canvas in ("dash-conversations", "dash-rates", "dash-procedures", "dash-intents", "dash-dossiers"):
            drawn = page.evaluate(f"(() => {{ const c = Chart.getChart('{canvas}'); return c ? c.data.datasets.length : 0; }})()")
            assert drawn >= 1, canvas
        labels = page.evaluate("Chart.getChart('dash-procedures').data.labels")
        assert labels and labels[0].startswith("Cấp hộ chiếu")
        with page.expect_download() as download:
            page.locator("#dash-csv").click()
        text = open(download.value.path(), encoding="utf-8-sig").read()
        assert text.startswith("Ngày,") and "Tổng,3," in text
        assert errors == []

        volunteer = browser.new_context(viewport=LAPTOP, base_url=server.url).new_page()
        volunteer.goto("/console")   # the volunteer logs in where volunteers do
        response = volunteer.request.post("/api/auth/login", data={"username": USERS["volunteer"], "password": PASSWORD})
        assert response.ok
        answer = volunteer.goto("/admin")
        assert answer.status == 403 and "không có quyền" in volunteer.content()
        context.close()

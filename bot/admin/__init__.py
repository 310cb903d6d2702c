"""Staff tools: ``GET /admin`` (the page) and its JSON API under ``/admin/api/``.

Every route needs a login (``bot.auth``: cookie ``tthc_session``) with role ``staff`` or
``admin``: 401 without a session, 403 for volunteers and supervisors — on every ``/admin`` path,
known or not. State-changing requests (POST, PUT, DELETE) also need ``X-CSRF-Token`` (403
without) and, with a body, ``Content-Type: application/json`` (415). Errors are
``{"error": "<tiếng Việt>"}``; every answer is ``Cache-Control: no-store``.

One module a topic, each with its own ``routes()``:

- ``bot.admin.procedures``: ``GET procedures``, ``GET|PUT procedures/{id}``, versions;
- ``bot.admin.inbox``: ``GET inbox``, ``POST inbox/{id}``, ``GET intents``, ``POST examples`` …;
- ``bot.admin.models``: ``POST models/train``, ``GET models/train/{job}``, ``GET models``,
  ``POST models/{id}/activate``;
- ``bot.admin.dashboard``: ``GET dashboard`` and its CSV export;
- ``bot.admin.privacy``: ``GET privacy/export``, ``POST privacy/delete``, ``GET access-log`` (role
  ``admin`` only).

The page (``bot/static/admin.html`` + ``admin.js``; each tab's script ``admin-<tab>.js``) logs in
with ``POST /api/auth/login`` and sends the CSRF token it gets back.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot import auth
from bot.admin.common import ADMIN_ROLES, NOT_FOUND, error, staff

STATIC = Path(__file__).resolve().parent.parent / "static"
FORBIDDEN_PAGE = ("<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>Không có quyền</title>"
                  "<p>Tài khoản của bạn không có quyền vào trang quản trị. Trang này dành cho cán bộ "
                  "(vai trò staff hoặc admin).</p><p><a href=\"/console\">Về bàn hỗ trợ</a></p></html>")


async def page(request: Request) -> Response:
    """The staff page. Without a session it shows its login form (the page's script asks
    ``/api/auth/me``); a logged-in volunteer or supervisor gets 403."""
    try:
        await auth.require(request, roles=ADMIN_ROLES)
    except auth.Denied as denied:
        if denied.status_code == 403:
            return HTMLResponse(FORBIDDEN_PAGE, status_code=403, headers={"Cache-Control": "no-store"})
    return HTMLResponse((STATIC / "admin.html").read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


async def unknown(request: Request) -> Response:
    """Any other ``/admin/...`` path: 401 / 403 like the real ones, then 404."""
    await staff(request)
    return error(NOT_FOUND, 404)


def routes() -> list[Route]:
    from bot.admin import dashboard, inbox, models, privacy, procedures

    return [
        Route("/admin", page),
        *procedures.routes(),
        *inbox.routes(),
        *models.routes(),
        *dashboard.routes(),
        *privacy.routes(),
        Route("/admin/{rest:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]

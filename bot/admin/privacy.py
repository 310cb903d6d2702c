"""Staff tools: one citizen's data on request, and the access log — thin routes over ``bot.privacy``
and ``bot.access_log``. **Role ``admin`` only** (403 for staff, volunteers and supervisors).

Why not ``staff`` too: ``staff`` accounts keep the catalogue and the NLU data and never see a
citizen's numbers (dossiers are shown to them masked), while an export holds the dossier answers
in clear and a deletion cannot be undone; both are acts of the data controller, done by the few
admin accounts. The access log shows who looked at which citizen: that is for admins too.

- ``GET /admin/api/privacy/export?conversation=ID`` or ``?dossier=CODE`` → 200 the export
  (``bot.privacy.export_citizen``) as a JSON attachment (``Content-Disposition: attachment``);
  400 (Vietnamese message) when neither, both, or a malformed id is given; 404 when nothing is kept.
- ``POST /admin/api/privacy/delete`` ``{"conversation": ID}`` or ``{"dossier": CODE}`` with
  ``"confirm": true`` (and ``X-CSRF-Token``) → 200 ``{"request", "conversations", "closed_handovers",
  "counts": {store: rows}}``; 400 without ``confirm: true`` or with a bad id, 404 when nothing is kept.
- ``GET /admin/api/access-log?limit=100&who=USERNAME`` → ``{"entries": [{"id", "at", "who", "role",
  "what", "target", "route"}]}``, newest first (``limit`` 1–1000, else 400).

Every export and deletion is recorded in the access log (``privacy_export`` / ``privacy_delete``).
"""

from __future__ import annotations

import json
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import access_log, auth, privacy
from bot.admin.common import NO_STORE, BadBody, body, error, ok

PRIVACY_ROLES = frozenset({"admin"})
NOTHING_FOUND = "Không tìm thấy dữ liệu nào của người dân này (mã cuộc trò chuyện hoặc mã hồ sơ không có trong hệ thống)."
BAD_DELETE = ('Cần JSON {"conversation": "<mã cuộc trò chuyện>"} hoặc {"dossier": "<mã hồ sơ>"}, '
              'kèm "confirm": true để xác nhận xóa vĩnh viễn.')
NOT_CONFIRMED = 'Xóa dữ liệu là vĩnh viễn: gửi kèm "confirm": true để xác nhận.'
BAD_LIMIT = "Tham số limit phải là số từ 1 đến 1000."
BAD_WHO = "Tham số who phải là tên đăng nhập (tối đa 200 ký tự)."
_SAFE = re.compile(r"[^A-Za-z0-9_.-]", re.ASCII)


async def _admin(request: Request):
    return await auth.require(request, roles=PRIVACY_ROLES)


def _accessor(session, request: Request) -> access_log.Accessor:
    return access_log.Accessor(session.username, session.role, access_log.route_template(request))


def _request_of(values) -> dict:
    """``{"conversation_id" | "dossier_code": value}`` from the query or body's names."""
    return {"conversation_id": values.get("conversation"), "dossier_code": values.get("dossier")}


async def export(request: Request) -> Response:
    session = await _admin(request)
    unknown = set(request.query_params) - {"conversation", "dossier"}
    if unknown:
        return error(privacy.BAD_NONE, 400)
    config = request.app.state.config
    try:
        data = await run_in_threadpool(lambda: privacy.export_citizen(
            config, **_request_of(request.query_params), by=_accessor(session, request)))
    except privacy.BadRequest as bad:
        return error(str(bad), 400)
    if not data["conversations"]:
        return error(NOTHING_FOUND, 404)
    name = _SAFE.sub("_", next(iter(data["request"].values())))
    return Response(json.dumps(data, ensure_ascii=False, indent=2), media_type="application/json; charset=utf-8",
                    headers={**NO_STORE, "Content-Disposition": f'attachment; filename="du-lieu-ca-nhan-{name}.json"'})


async def delete(request: Request) -> Response:
    session = await _admin(request)
    data = await body(request)
    if not isinstance(data, dict) or set(data) - {"conversation", "dossier", "confirm"}:
        raise BadBody(BAD_DELETE)
    if data.get("confirm") is not True:
        return error(NOT_CONFIRMED, 400)
    config = request.app.state.config
    try:
        result = await run_in_threadpool(lambda: privacy.delete_citizen(
            config, **_request_of(data), by=_accessor(session, request)))
    except privacy.BadRequest as bad:
        return error(str(bad), 400)
    if not result["conversations"]:
        return error(NOTHING_FOUND, 404)
    wakeups = getattr(request.app.state, "wakeups", None)
    if wakeups is not None:   # open consoles refresh at once (they also poll every second)
        from bot import console

        wakeups.notify(console.CONSOLE_KEY)
    return ok(result)


async def access_log_entries(request: Request) -> Response:
    await _admin(request)
    raw = request.query_params.get("limit", "100")
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 1000):
        return error(BAD_LIMIT, 400)
    who = request.query_params.get("who") or None
    if who is not None and len(who) > 200:
        return error(BAD_WHO, 400)
    entries = await run_in_threadpool(access_log.for_app(request.app).entries, int(raw), who)
    return ok({"entries": entries})


def routes() -> list[Route]:
    return [
        Route("/admin/api/privacy/export", export, methods=["GET"]),
        Route("/admin/api/privacy/delete", delete, methods=["POST"]),
        Route("/admin/api/access-log", access_log_entries, methods=["GET"]),
    ]

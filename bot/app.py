"""The bot app: web chat page and its JSON API, in front of Rasa.

Routes:
- ``GET /`` the web chat; ``/static/...`` its files.
- ``POST /api/messages`` ``{"conversation_id", "text"}`` or ``{"conversation_id", "payload", "title"}``
  → ``{"replies": [{"text", "buttons": [{"title", "payload"}]}], "message": {"text"}}`` (the
  citizen's message as stored, long numbers masked).
- ``GET /api/conversations/{id}/messages[?after=ISO]`` → ``{"messages": [...]}``.
- ``GET /healthz`` → ``{"ok": true, "rasa": bool}``.
- ``GET /dossiers/pdf/{token}`` the filled form of a dossier (signed, expiring link sent in chat):
  application/pdf; 410 when the link expired, 404 when it is not genuine.
- Staff API (header ``Authorization: Bearer <STAFF_API_TOKEN>``; 503 when no token is configured,
  401 when it is missing or wrong), thin wrappers over ``bot.staff``:
  ``GET /api/staff/dossiers[?state=&limit=]`` → ``{"dossiers": [...]}``;
  ``GET /api/staff/dossiers/{code}`` → the dossier with masked answers and history;
  ``POST /api/staff/dossiers/{code}/state`` ``{"state", "actor", "note"}`` → the dossier
  (409 for a change the life cycle forbids, 404 unknown code, 400 bad body).
  Errors are ``{"error": "<Vietnamese message>"}``.

Drafts older than DRAFT_RETENTION_DAYS are purged at startup and then once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot import settings as settings_module
from bot import staff
from bot.conversations import InvalidConversation, Router, valid_conversation_id
from bot.dossiers import DossierNotFound, ExpiredToken, InvalidToken, InvalidTransition, check_pdf_token
from bot.rasa_client import RasaClient
from bot.store import MessageStore

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
BAD_REQUEST = "Yêu cầu không hợp lệ. Bạn vui lòng tải lại trang và thử lại."
SERVER_ERROR = "Xin lỗi, hệ thống gặp lỗi. Tin nhắn của bạn đã được lưu, bạn vui lòng thử lại sau ít phút."
RETRY_EVERY = 30.0
PURGE_EVERY = 24 * 3600.0
STAFF_OFF = "Chưa cấu hình STAFF_API_TOKEN: API cho cán bộ đang tắt."
STAFF_DENIED = "Thiếu hoặc sai mã truy cập. Gửi kèm tiêu đề “Authorization: Bearer <STAFF_API_TOKEN>”."
MAX_ACTOR_CHARS, MAX_NOTE_CHARS = 100, 1000
STAFF_BAD_BODY = (f'Nội dung yêu cầu không hợp lệ: cần JSON có "state" và "actor" (chuỗi, tối đa '
                  f'{MAX_ACTOR_CHARS} ký tự), "note" (chuỗi, không bắt buộc; tối đa {MAX_NOTE_CHARS} ký tự).')
STAFF_BAD_LIMIT = "Tham số limit phải là số từ 1 đến 500."
DOSSIER_NOT_FOUND = "Không tìm thấy hồ sơ {code}."
LINK_EXPIRED = "Liên kết đã hết hạn. Bạn nhắn “gửi lại tờ khai {code}” cho trợ lý để nhận liên kết mới."
LINK_NOT_FOUND = "Không tìm thấy tệp này. Bạn kiểm tra lại liên kết trợ lý đã gửi nhé."


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html")


async def post_message(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(BAD_REQUEST, 400)
    if not isinstance(body, dict):
        return _error(BAD_REQUEST, 400)
    router: Router = request.app.state.router
    try:
        turn = await router.handle(body.get("conversation_id"), text=body.get("text"),
                                   payload=body.get("payload"), title=body.get("title"), channel="web")
    except InvalidConversation as error:
        return _error(str(error), 400)
    return JSONResponse({"replies": turn.replies, "message": {"text": turn.stored_text}})


async def get_messages(request: Request) -> JSONResponse:
    try:
        conversation_id = valid_conversation_id(request.path_params["conversation_id"])
    except InvalidConversation as error:
        return _error(str(error), 400)
    after = request.query_params.get("after")
    messages = request.app.state.store.history(conversation_id, after=after)
    keys = ("direction", "text", "buttons", "created_at")
    return JSONResponse({"messages": [{k: m[k] for k in keys} for m in messages]})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "rasa": await request.app.state.rasa.healthy()})


# --- dossier PDF (citizens) ------------------------------------------------------------------

def _page(message: str, status: int) -> HTMLResponse:
    body = (f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Trợ lý thủ tục hành chính'
            f'</title></head><body><p>{html.escape(message)}</p></body></html>')
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def dossier_pdf(request: Request) -> Response:
    token = request.path_params["token"]
    config = request.app.state.config
    try:
        code = check_pdf_token(token, config.secret())
    except ExpiredToken:
        return _page(LINK_EXPIRED.format(code=token.split(".")[0]), 410)   # genuine, so the code is too
    except InvalidToken:
        return _page(LINK_NOT_FOUND, 404)
    pdf = await run_in_threadpool(staff.dossier_pdf, config, code)
    if pdf is None:
        return _page(LINK_NOT_FOUND, 404)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{code}.pdf"',
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })


# --- staff API --------------------------------------------------------------------------------

def _staff_denied(request: Request) -> JSONResponse | None:
    """An error response unless the request carries the staff bearer token."""
    expected = request.app.state.config.staff_token
    if not expected:
        return _error(STAFF_OFF, 503)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return JSONResponse({"error": STAFF_DENIED}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return None


async def staff_list(request: Request) -> JSONResponse:
    if denied := _staff_denied(request):
        return denied
    state = request.query_params.get("state") or None
    try:
        limit = int(request.query_params.get("limit", 50))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 500:
        return _error(STAFF_BAD_LIMIT, 400)
    try:
        dossiers = await run_in_threadpool(staff.list_dossiers, request.app.state.config, state, limit)
    except staff.UnknownState as error:
        return _error(str(error), 400)
    return JSONResponse({"dossiers": dossiers})


async def staff_show(request: Request) -> JSONResponse:
    if denied := _staff_denied(request):
        return denied
    code = request.path_params["code"]
    try:
        return JSONResponse(await run_in_threadpool(staff.show, request.app.state.config, code))
    except DossierNotFound:
        return _error(DOSSIER_NOT_FOUND.format(code=code.strip().upper()), 404)


def _state_request(body: object) -> tuple[str, str, str | None] | None:
    """(state, actor, note) from a POST body, or None when it is malformed."""
    if not isinstance(body, dict):
        return None
    state, actor, note = body.get("state"), body.get("actor"), body.get("note")
    if not (isinstance(state, str) and state.strip() and isinstance(actor, str) and actor.strip()):
        return None
    if len(actor) > MAX_ACTOR_CHARS or not (note is None or (isinstance(note, str) and len(note) <= MAX_NOTE_CHARS)):
        return None
    return state.strip(), actor.strip(), note


async def staff_set_state(request: Request) -> JSONResponse:
    if denied := _staff_denied(request):
        return denied
    try:
        parsed = _state_request(await request.json())
    except ValueError:
        parsed = None
    if parsed is None:
        return _error(STAFF_BAD_BODY, 400)
    state, actor, note = parsed
    config, code = request.app.state.config, request.path_params["code"]

    def change() -> dict:
        dossier = staff.change_state(config, code, state, actor, note, messages=request.app.state.store)
        return staff.show(config, dossier.code)

    try:
        return JSONResponse(await run_in_threadpool(change))
    except staff.UnknownState as error:
        return _error(str(error), 400)
    except InvalidTransition as error:
        return _error(str(error), 409)
    except DossierNotFound:
        return _error(DOSSIER_NOT_FOUND.format(code=code.strip().upper()), 404)


# --- app ----------------------------------------------------------------------------------------

async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return _error(SERVER_ERROR, 500)


async def _retry_loop(router: Router) -> None:
    while True:
        await asyncio.sleep(RETRY_EVERY)
        with contextlib.suppress(Exception):
            await router.retry_pending()


def _purge_drafts(config: settings_module.Settings) -> None:
    try:
        staff.purge(config)
    except Exception:  # noqa: BLE001 — housekeeping must not stop the app
        log.exception("purging old drafts failed")


async def _purge_loop(config: settings_module.Settings) -> None:
    while True:
        await asyncio.sleep(PURGE_EVERY)
        await run_in_threadpool(_purge_drafts, config)


def create_app(config: settings_module.Settings | None = None) -> Starlette:
    config = config or settings_module.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.config = config
        app.state.store = MessageStore(config.app_db)
        app.state.rasa = RasaClient(config.rasa_url, timeout=config.rasa_timeout)
        app.state.router = Router(app.state.store, app.state.rasa, max_chars=config.max_message_chars)
        _purge_drafts(config)
        tasks = [asyncio.create_task(_retry_loop(app.state.router)), asyncio.create_task(_purge_loop(config))]
        yield
        for task in tasks:
            task.cancel()
        await app.state.rasa.aclose()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/messages", post_message, methods=["POST"]),
            Route("/api/conversations/{conversation_id}/messages", get_messages),
            Route("/healthz", healthz),
            Route("/dossiers/pdf/{token}", dossier_pdf),
            Route("/api/staff/dossiers", staff_list),
            Route("/api/staff/dossiers/{code}", staff_show),
            Route("/api/staff/dossiers/{code}/state", staff_set_state, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        ],
        exception_handlers={Exception: _server_error},
        lifespan=lifespan,
    )

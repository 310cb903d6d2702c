"""The bot app: web chat page and its JSON API, in front of Rasa.

Routes:
- ``GET /`` the web chat (``/?embed=1``: the compact layout shown in the widget's iframe);
  ``/static/...`` its files; ``GET /widget.js`` the script a city page includes to embed the chat.
- ``POST /api/conversations`` (empty or JSON body) → 201 ``{"conversation_id", "token"}``: a new web
  conversation (``bot.web_sessions``). Every request below about a conversation must carry its token
  in header ``X-Conversation-Token``, else 403 ``{"error"}`` and nothing is stored or returned; ids
  of other channels (``telegram:…``, ``zalo:…``: anything not ``web-…``) are always refused here.
- ``POST /api/messages`` ``{"conversation_id", "text"}`` or ``{"conversation_id", "payload", "title"}``,
  optionally ``"after_id"`` (the last message id the page has)
  → ``{"replies": [{"text", "buttons": [{"title", "payload"}]}], "message": {"text"}}`` (the
  citizen's message as stored, long numbers masked), plus ``"messages"`` (the stored messages with
  an id above ``after_id``, this turn included) when ``after_id`` was sent.
- ``GET /api/conversations/{id}/messages[?after=ISO | ?after_id=N]`` → ``{"messages": [{"id",
  "direction", "sender", "text", "buttons", "created_at"}]}`` (``sender``: citizen, bot or volunteer).
- ``GET /api/conversations/{id}/events`` server-sent events: every stored message of the
  conversation as one ``message`` event (``id:`` the message id, ``data:`` the JSON above), from
  after ``Last-Event-ID`` (or ``?after_id=``; from the start without either), then each new one as it
  is stored — by this process (woken at once) or another (the staff CLI: seen within
  ``EVENTS_POLL_SECONDS``). A comment line every ``EVENTS_PING_SECONDS`` keeps proxies open; the
  stream ends when the client goes away.
- ``GET /healthz`` → ``{"ok": true, "rasa": bool}``.
- ``GET /dossiers/pdf/{token}`` the filled form of a dossier (signed, expiring link sent in chat):
  application/pdf; 410 when the link expired, 404 when it is not genuine.
- Staff API (header ``Authorization: Bearer <STAFF_API_TOKEN>``; 503 when no token is configured,
  401 when it is missing or wrong), thin wrappers over ``bot.staff``:
  ``GET /api/staff/dossiers[?state=&limit=]`` → ``{"dossiers": [...]}``;
  ``GET /api/staff/dossiers/{code}`` → the dossier with masked answers and history;
  ``POST /api/staff/dossiers/{code}/state`` ``{"state", "actor", "note"}`` → the dossier
  (409 for a change the life cycle forbids, 404 unknown code, 400 bad body).
  ``GET /api/staff/messages/failed`` → ``{"messages": [...]}`` (turns that failed MAX_ATTEMPTS times).
  Errors are ``{"error": "<Vietnamese message>"}``.

HTTP hardening (pure ASGI middleware and checks in the handlers):
- Every response carries Content-Security-Policy (``CSP``), ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``. ``frame-ancestors`` is ``'self'`` (with ``X-Frame-Options:
  SAMEORIGIN``) except on the chat page when WIDGET_ORIGINS lists city sites: the page's policy is
  then ``frame-ancestors 'self' <those origins>`` and it sends no X-Frame-Options (which cannot
  name other sites and would contradict it).
- Request bodies over MAX_BODY_BYTES → 413, decided from Content-Length or, for chunked uploads,
  while counting the chunks (the body is never read whole first).
- JSON routes (``POST /api/messages``, ``POST /api/staff/dossiers/{code}/state``) need
  ``Content-Type: application/json`` (optionally ``; charset=utf-8``) → 415 otherwise; malformed
  JSON, JSON nested deeper than MAX_JSON_DEPTH, or a field of the wrong type or length → 400,
  and nothing is stored.
- Rate limits (``bot.ratelimit``, persisted in ``limits.db``, keys stored as HMAC digests):
  RATE_LIMIT_PER_MINUTE per client address on ``POST /api/conversations``, ``POST /api/messages``,
  ``GET /api/conversations/{id}/messages``, ``GET /api/conversations/{id}/events`` (each connection)
  and ``GET /dossiers/pdf/{token}``, and CONVERSATION_RATE_PER_MINUTE per conversation on
  ``POST /api/messages`` (counted only once the token is right) → 429 with
  ``Retry-After``. A limit of 0 turns that limit off. The client address is
  ``request.client.host``: behind a reverse proxy, uvicorn must run with ``--proxy-headers`` and
  ``--forwarded-allow-ips=<proxy address>`` (env FORWARDED_ALLOW_IPS; uvicorn trusts only
  127.0.0.1 and ::1 by default), or every citizen shares the proxy's limit. Never ``*`` while the
  app port is reachable directly: clients could then choose their own address.
- Any unhandled exception → 500 with ``SERVER_ERROR`` (which claims nothing was saved); the log
  line names only the exception type and the route (never the body, the path's id or token).

Drafts older than DRAFT_RETENTION_DAYS are purged at startup and then once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import html
import json
import logging
import re
from pathlib import Path

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import access_log, admin, auth, clock, console, db, ratelimit, shared_stores, staff
from bot import settings as settings_module
from bot.admin import common as admin_common
from bot.channel_hub import ChannelHub
from bot.conversations import (
    MAX_PAYLOAD_CHARS,
    MAX_TITLE_CHARS,
    InvalidConversation,
    Router,
    valid_conversation_id,
)
from bot.dossiers import (
    DossierNotFound,
    DossierStore,
    ExpiredToken,
    InvalidToken,
    InvalidTransition,
    check_pdf_token,
)
from bot.handover.desk import Desk
from bot.handover.officehours import OfficeHours
from bot.handover.store import HandoverStore
from bot.leases import Leases
from bot.wakeups import Wakeups
from bot.httpjson import BadJson, is_json, json_body
from bot.rasa_client import RasaClient
from bot.store import MessageStore
from bot.web_sessions import HEADER as TOKEN_HEADER
from bot.web_sessions import WebSessions

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
BAD_REQUEST = "Yêu cầu không hợp lệ. Bạn vui lòng tải lại trang và thử lại."
SERVER_ERROR = "Xin lỗi, hệ thống gặp lỗi nên chưa xử lý được yêu cầu này. Bạn vui lòng thử lại sau ít phút."
BAD_MESSAGE = ('Yêu cầu không hợp lệ: cần JSON có "conversation_id" (chuỗi) và "text" (chuỗi), hoặc "payload" '
               f'(chuỗi, tối đa {MAX_PAYLOAD_CHARS} ký tự) và "title" (chuỗi, tối đa {MAX_TITLE_CHARS} ký tự). '
               'Bạn vui lòng tải lại trang và thử lại.')
TOO_LARGE = "Nội dung gửi lên quá lớn (tối đa {kb} KB). Bạn vui lòng gửi tin nhắn ngắn hơn."
NOT_JSON = "Yêu cầu phải gửi dạng JSON (tiêu đề “Content-Type: application/json”)."
TOO_FAST = "Bạn gửi nhanh quá, bạn vui lòng đợi khoảng một phút rồi gửi lại nhé."
TOO_FAST_PAGE = "Bạn mở liên kết nhanh quá, bạn vui lòng đợi khoảng một phút rồi mở lại nhé."
RATE_WINDOW = 60.0
CSP_BASE = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
CSP = CSP_BASE
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Pages a city site may frame (the widget's iframe): the chat page only.
FRAMEABLE_PATHS = frozenset({"/"})
# One origin of WIDGET_ORIGINS: scheme, host (optionally "*." for subdomains), optional port.
_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                     r"[A-Za-z0-9])?)*(?::[0-9]{1,5})?$", re.ASCII)
FORBIDDEN = ("Bạn không có quyền xem hay gửi tin nhắn trong cuộc trò chuyện này. "
             "Bạn vui lòng tải lại trang để bắt đầu một cuộc trò chuyện mới.")
BAD_AFTER_ID = "Mã tin nhắn (after_id / Last-Event-ID) phải là số nguyên không âm."
EVENTS_POLL_SECONDS = 1.0    # how often an open event stream looks for messages other processes stored
EVENTS_PING_SECONDS = 15.0   # keep-alive comment for proxies
EVENTS_BATCH = 200
MESSAGE_KEYS = ("id", "direction", "text", "buttons", "created_at")
RETRY_EVERY = 30.0
PURGE_EVERY = 24 * 3600.0
DESK_EVERY = 5.0
LEASE_ROUNDS = 3  # a loop's lease lasts three of its rounds: a dead holder is replaced within that
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


# --- HTTP hardening: middleware ---------------------------------------------------------------

class _BodyTooLarge(Exception):
    """Raised from ``receive`` when the streamed body passes the limit (not a ValueError on purpose)."""


def _route_of(scope: Scope) -> str:
    """The route template a request matched ("/dossiers/pdf/{token}"), never the path itself."""
    endpoint, app = scope.get("endpoint"), scope.get("app")
    for route in getattr(app, "routes", ()):
        if getattr(route, "endpoint", None) is endpoint and endpoint is not None:
            return route.path
    return "(no route)"


def widget_origins(origins: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The well-formed origins of WIDGET_ORIGINS (anything else could inject CSP directives: skipped)."""
    kept = []
    for origin in origins:
        origin = origin.strip().rstrip("/")
        if _ORIGIN.match(origin):
            kept.append(origin)
        elif origin:
            log.warning("WIDGET_ORIGINS: ignoring %r (expected https://host[:port])", origin[:100])
    return tuple(dict.fromkeys(kept))


def page_csp(frame_origins: tuple[str, ...] = ()) -> str:
    """The policy of the chat page: ``frame-ancestors 'self'`` plus the city sites that embed it."""
    return CSP_BASE + "".join(f" {origin}" for origin in frame_origins)


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to every HTTP response (replacing any a handler set).

    ``frame_origins`` (WIDGET_ORIGINS) may frame the pages in FRAMEABLE_PATHS; every other response
    may be framed only by this origin, and says so in X-Frame-Options too.
    """

    def __init__(self, app: ASGIApp, frame_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.page_csp = page_csp(frame_origins)
        self.page_frameable = bool(frame_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = self.page_frameable and scope.get("path") in FRAMEABLE_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if page:
                    headers["Content-Security-Policy"] = self.page_csp
                    if "x-frame-options" in headers:
                        del headers["x-frame-options"]
                else:
                    headers["X-Frame-Options"] = "SAMEORIGIN"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ErrorMiddleware:
    """Any exception a handler raises → a polite 500 (``SERVER_ERROR``), logged by type and route only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 — the citizen gets a polite answer, never a stack trace
            log.error("unhandled %s on %s %s", type(exc).__name__, scope.get("method"), _route_of(scope))
            if not started:
                await _error(SERVER_ERROR, 500)(scope, receive, send)


class NoRangeMiddleware:
    """Drops ``Range`` / ``If-Range`` from requests: the app's files (the page's scripts and
    styles, widget.js) are small and always sent whole, which HTTP allows (RFC 9110 §14.2).
    Otherwise Starlette's FileResponse answers a malformed or unsatisfiable range itself, in
    English plain text (400 "Malformed range header.", 416)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or []
            kept = [(k, v) for k, v in headers if k.lower() not in (b"range", b"if-range")]
            if len(kept) != len(headers):
                scope = {**scope, "headers": kept}
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 before they are read whole.

    A declared Content-Length over the limit is refused before any of the body is read; a
    body without one (chunked) is counted chunk by chunk and reading stops at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        kb = max(1, self.max_bytes // 1024)
        response = _error(TOO_LARGE.format(kb=kb), 413)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [value for name, value in scope.get("headers", []) if name.lower() == b"content-length"]
        if declared:
            value = declared[0].strip()
            if not value.isdigit() or len(set(v.strip() for v in declared)) > 1:
                await _error(BAD_REQUEST, 400)(scope, receive, send)
                return
            if int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        seen, started = 0, False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)


# --- HTTP hardening: checks in handlers -------------------------------------------------------

def _text_field(body: dict, name: str, max_chars: int | None = None) -> bool:
    """Whether ``body[name]`` is absent, null, or a string (encodable, at most ``max_chars``)."""
    value = body.get(name)
    if value is None:
        return True
    if not isinstance(value, str) or (max_chars is not None and len(value) > max_chars):
        return False
    try:
        value.encode("utf-8")   # a lone surrogate ("\ud800") is valid JSON but cannot be stored
    except UnicodeEncodeError:
        return False
    return True


def _message_request(body: object) -> dict | None:
    """The fields of a POST /api/messages body, or None when one has the wrong type or length."""
    if not isinstance(body, dict):
        return None
    if not (_text_field(body, "text") and _text_field(body, "payload", MAX_PAYLOAD_CHARS)
            and _text_field(body, "title", MAX_TITLE_CHARS)):
        return None
    return {name: body.get(name) for name in ("conversation_id", "text", "payload", "title")}


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _rate_limited(request: Request, rules: list[tuple[str, int]], page: bool = False) -> Response | None:
    """A 429 when one of ``(key, per_minute)`` is over its limit (a limit <= 0 is off), else None."""
    rules = [(key, limit, RATE_WINDOW) for key, limit in rules if limit > 0]
    try:
        if not rules or await run_in_threadpool(request.app.state.limits.allow_all, rules):
            return None
    except Exception as error:  # noqa: BLE001 — the limiter's store (Redis) is down: the citizen is served,
        log.warning("rate limit not checked: %s", type(error).__name__)   # unlimited until it is back
        return None
    headers = {"Retry-After": str(int(RATE_WINDOW))}   # the window: by then every counted hit has expired
    if page:
        response = _page(TOO_FAST_PAGE, 429)
        response.headers.update(headers)
        return response
    return JSONResponse({"error": TOO_FAST}, status_code=429, headers=headers)


def _per_client(request: Request) -> list[tuple[str, int]]:
    return [(f"ip:{_client_address(request)}", request.app.state.config.rate_limit_per_minute)]


# --- web chat -------------------------------------------------------------------------------------

class AppMessageStore(MessageStore):
    """The app's message store: every message it stores wakes that conversation's event streams."""

    wakeups: Wakeups | None = None

    def add(self, conversation_id: str, *args, **kwargs) -> int:
        message_id = super().add(conversation_id, *args, **kwargs)
        if self.wakeups is not None:
            self.wakeups.notify(conversation_id)
            self.wakeups.notify(console.CONSOLE_KEY)   # the volunteer console's stream looks too
        return message_id


_PAGE = (STATIC / "index.html").read_text(encoding="utf-8")
_EMBED_PAGE = (_PAGE.replace('<html lang="vi">', '<html lang="vi" class="embed">', 1)
               .replace('href="/" class="app__restart"', 'href="/?embed=1" class="app__restart"', 1))


async def index(request: Request) -> Response:
    embed = request.query_params.get("embed") == "1"
    return HTMLResponse(_EMBED_PAGE if embed else _PAGE, headers={"Cache-Control": "no-cache"})


async def widget_js(request: Request) -> Response:
    """``GET /widget.js``: the script city pages include (runs on their page, not ours)."""
    return FileResponse(STATIC / "widget.js", media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})


def _public(message: dict) -> dict:
    """A stored message as the citizen's page gets it; ``sender`` says who wrote it (a volunteer's
    username is never shown to the citizen)."""
    public = {key: message[key] for key in MESSAGE_KEYS}
    public["sender"] = "citizen" if message["direction"] == "in" else ("volunteer" if message.get("author") else "bot")
    return public


def _forbidden() -> JSONResponse:
    return JSONResponse({"error": FORBIDDEN}, status_code=403, headers={"Cache-Control": "no-store"})


def _owner(request: Request, conversation_id: str) -> bool:
    """Whether the request carries this web conversation's token (header X-Conversation-Token)."""
    tokens = request.headers.getlist(TOKEN_HEADER)
    return len(tokens) == 1 and request.app.state.sessions.allowed(conversation_id, tokens[0])


def _message_id(value: object) -> int | None:
    """A message id sent by the client (``after_id``, ``Last-Event-ID``): a non-negative int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2 ** 63 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    return None


async def create_conversation(request: Request) -> Response:
    """``POST /api/conversations`` → 201 ``{"conversation_id", "token"}``."""
    if limited := await _rate_limited(request, _per_client(request)):
        return limited
    body = await request.body()
    if body.strip():
        if not is_json(request):
            return _error(NOT_JSON, 415)
        try:
            await json_body(request)
        except BadJson:
            return _error(BAD_REQUEST, 400)
    conversation_id, token = request.app.state.sessions.issue()
    return JSONResponse({"conversation_id": conversation_id, "token": token}, status_code=201,
                        headers={"Cache-Control": "no-store"})


def _owned(request: Request, conversation_id: object) -> str | Response:
    """The conversation id if it is well formed and the request holds its token, else the error answer."""
    try:
        conversation_id = valid_conversation_id(conversation_id)
    except InvalidConversation as error:
        return _error(str(error), 400)
    return conversation_id if _owner(request, conversation_id) else _forbidden()


async def post_message(request: Request) -> Response:
    if limited := await _rate_limited(request, _per_client(request)):
        return limited
    if not is_json(request):
        return _error(NOT_JSON, 415)
    try:
        body = await json_body(request)
    except BadJson:
        return _error(BAD_REQUEST, 400)
    fields = _message_request(body)
    if fields is None:
        return _error(BAD_MESSAGE, 400)
    conversation_id = _owned(request, fields["conversation_id"])
    if isinstance(conversation_id, Response):
        return conversation_id
    after_id = None
    if body.get("after_id") is not None:
        after_id = _message_id(body["after_id"])
        if after_id is None:
            return _error(BAD_AFTER_ID, 400)
    per_conversation = request.app.state.config.conversation_rate_per_minute
    if limited := await _rate_limited(request, [(f"conversation:{conversation_id}", per_conversation)]):
        return limited
    router: Router = request.app.state.router
    try:
        turn = await router.handle(conversation_id, text=fields["text"], payload=fields["payload"],
                                   title=fields["title"], channel="web")
    except InvalidConversation as error:
        return _error(str(error), 400)
    answer = {"replies": turn.replies, "message": {"text": turn.stored_text}}
    if after_id is not None:
        with contextlib.suppress(Exception):   # the answer matters more than the resync
            stored = await run_in_threadpool(request.app.state.store.after_id, conversation_id, after_id,
                                             EVENTS_BATCH)
            answer["messages"] = [_public(m) for m in stored]
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def get_messages(request: Request) -> Response:
    if limited := await _rate_limited(request, _per_client(request)):
        return limited
    conversation_id = _owned(request, request.path_params["conversation_id"])
    if isinstance(conversation_id, Response):
        return conversation_id
    store: MessageStore = request.app.state.store
    if "after_id" in request.query_params:
        after_id = _message_id(request.query_params["after_id"])
        if after_id is None:
            return _error(BAD_AFTER_ID, 400)
        messages, batch = [], await run_in_threadpool(store.after_id, conversation_id, after_id, EVENTS_BATCH)
        while batch:
            messages += batch
            batch = await run_in_threadpool(store.after_id, conversation_id, batch[-1]["id"], EVENTS_BATCH) \
                if len(batch) == EVENTS_BATCH else []
    else:
        messages = await run_in_threadpool(store.history, conversation_id, request.query_params.get("after"))
    return JSONResponse({"messages": [_public(m) for m in messages]}, headers={"Cache-Control": "no-store"})


async def conversation_events(request: Request) -> Response:
    """``GET /api/conversations/{id}/events``: the conversation's messages as server-sent events."""
    if limited := await _rate_limited(request, _per_client(request)):
        return limited
    conversation_id = _owned(request, request.path_params["conversation_id"])
    if isinstance(conversation_id, Response):
        return conversation_id
    resume = request.headers.get("last-event-id") or request.query_params.get("after_id") or "0"
    after_id = _message_id(resume)
    if after_id is None:
        return _error(BAD_AFTER_ID, 400)
    store: MessageStore = request.app.state.store
    wakeups: Wakeups = request.app.state.wakeups

    async def stream():
        last = after_id
        with wakeups.listen(conversation_id) as woken:
            while True:
                woken.clear()   # before reading: a message stored after the read sets it again
                try:
                    batch = await run_in_threadpool(store.after_id, conversation_id, last, EVENTS_BATCH)
                except db.ERRORS as error:   # the database is down: the stream stays open and tries again
                    log.warning("live update read failed: %s", type(error).__name__)
                    batch = []
                for message in batch:
                    last = message["id"]
                    yield ServerSentEvent(data=json.dumps(_public(message), ensure_ascii=False),
                                          id=str(message["id"]), event="message")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(woken.wait(), EVENTS_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=EVENTS_PING_SECONDS, headers={"Cache-Control": "no-store"})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "rasa": await request.app.state.rasa.healthy()})


# --- dossier PDF (citizens) ------------------------------------------------------------------

def _page(message: str, status: int) -> HTMLResponse:
    body = (f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Trợ lý thủ tục hành chính'
            f'</title></head><body><p>{html.escape(message)}</p></body></html>')
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def dossier_pdf(request: Request) -> Response:
    if limited := await _rate_limited(request, _per_client(request), page=True):
        return limited
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
    if not is_json(request):
        return _error(NOT_JSON, 415)
    try:
        parsed = _state_request(await json_body(request))
    except BadJson:
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


async def staff_failed_messages(request: Request) -> JSONResponse:
    if denied := _staff_denied(request):
        return denied
    messages = await run_in_threadpool(staff.failed_messages, request.app.state.config,
                                       messages=request.app.state.store)
    return JSONResponse({"messages": messages})


# --- app ----------------------------------------------------------------------------------------

NO_PAGE = "Không tìm thấy trang này."
NO_METHOD = "Địa chỉ này không nhận yêu cầu {method}."
# Paths a script calls (JSON answers); anything else is a page or a file a browser opens (HTML).
_JSON_PREFIXES = ("/api/", "/console/api/", "/admin/api/", "/channels/")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own refusals (no route matched: 404, a route without this method: 405, a missing
    static file) in Vietnamese: JSON ``{"error"}`` for the APIs, the app's HTML page elsewhere."""
    if exc.status_code == 404:
        message = NO_PAGE
    elif exc.status_code == 405:
        message = NO_METHOD.format(method=request.method)
    else:
        message = BAD_REQUEST
    if request.url.path.startswith(_JSON_PREFIXES):
        response: Response = _error(message, exc.status_code)
    else:
        response = _page(message, exc.status_code)
    for name, value in (exc.headers or {}).items():   # Allow (405)
        response.headers[name] = value
    return response


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort (ErrorMiddleware catches handler errors first): type and route only, no body."""
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, _route_of(request.scope))
    return _error(SERVER_ERROR, 500)


async def _leased(leases: Leases, name: str, every: float) -> bool:
    """This process's turn for loop ``name`` (see ``bot/leases.py``); a failure to ask is no turn."""
    try:
        return await run_in_threadpool(leases.acquire, name, LEASE_ROUNDS * every)
    except Exception as error:  # noqa: BLE001 — the database is down: skip this round, try the next
        log.error("lease %s not taken: %s", name, type(error).__name__)
        return False


async def _retry_loop(router: Router, leases: Leases) -> None:
    while True:
        await asyncio.sleep(RETRY_EVERY)
        if not await _leased(leases, "retry", RETRY_EVERY):
            continue
        try:
            await router.retry_pending()
        except Exception as error:  # noqa: BLE001 — logged, never swallowed; the next round goes on
            log.error("retry of kept messages failed: %s", type(error).__name__)


async def channel_webhook(request: Request) -> Response:
    """``POST /channels/{name}/webhook`` (Telegram, Zalo): see ``bot.channel_hub``."""
    return await request.app.state.hub.webhook(request)


def _purge_drafts(config: settings_module.Settings) -> None:
    try:
        staff.purge(config)
    except Exception:  # noqa: BLE001 — housekeeping must not stop the app
        log.exception("purging old drafts failed")


async def _purge(config: settings_module.Settings, handovers: HandoverStore, leases: Leases) -> None:
    """The daily purge, in one process: the lease outlives the round, so the others skip it that day."""
    if await _leased(leases, "purge", PURGE_EVERY / LEASE_ROUNDS / 2):
        await run_in_threadpool(_purge_drafts, config)
        await run_in_threadpool(_purge_handovers, config, handovers)


async def _purge_loop(config: settings_module.Settings, handovers: HandoverStore, leases: Leases) -> None:
    while True:
        await asyncio.sleep(PURGE_EVERY)
        await _purge(config, handovers, leases)


def _purge_handovers(config: settings_module.Settings, handovers: HandoverStore) -> None:
    try:
        handovers.purge(clock.utcnow() - dt.timedelta(days=config.draft_retention_days))
    except Exception:  # noqa: BLE001 — housekeeping must not stop the app
        log.exception("purging old handovers failed")


async def _desk_loop(desk: Desk, leases: Leases) -> None:
    """Claim time-outs, vanished consoles and queue places, every DESK_EVERY seconds (in one process)."""
    while True:
        await asyncio.sleep(DESK_EVERY)
        if not await _leased(leases, "desk", DESK_EVERY):
            continue
        try:
            await run_in_threadpool(desk.tick)
        except Exception as error:  # noqa: BLE001 — logged; the next round goes on
            log.error("handover housekeeping failed: %s", type(error).__name__)


def create_app(config: settings_module.Settings | None = None) -> Starlette:
    from bot.processes import install_log_hygiene

    install_log_hygiene()  # also in uvicorn's worker processes (APP_PROCESSES > 1), which start afresh
    config = config or settings_module.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.config = config
        auth.install(app.state, config)
        app.state.wakeups = Wakeups(asyncio.get_running_loop(), redis_url=config.redis_url)
        app.state.wakeups.start()
        app.state.store = AppMessageStore(config.app_database)
        app.state.store.wakeups = app.state.wakeups
        app.state.sessions = WebSessions(config.derived_secret("web-conversation"))
        app.state.limits = ratelimit.for_config(config, key_secret=config.derived_secret("rate-limit"))
        app.state.rasa = RasaClient(config.rasa_urls, timeout=config.rasa_timeout, token=config.rasa_token,
                                    actions_health_url=config.actions_health_url,
                                    store_checks=shared_stores.health_checks(config))
        app.state.hub = ChannelHub(config, app.state.store)
        app.state.handovers = HandoverStore(config.app_database)
        wakeups = app.state.wakeups
        app.state.desk = desk = Desk(
            app.state.handovers, app.state.store, app.state.rasa, app.state.hub.delivery, app.state.auth.accounts,
            OfficeHours.parse(config.office_hours), claim_timeout=config.handover_claim_timeout_minutes * 60,
            notify=lambda: wakeups.notify(console.CONSOLE_KEY), dossiers=DossierStore(config.app_database))
        app.state.auth.on_login.append(desk.logged_in)
        app.state.auth.on_logout.append(desk.logged_out)
        app.state.router = Router(app.state.store, app.state.rasa, max_chars=config.max_message_chars,
                                  max_attempts=config.max_attempts, delivery=app.state.hub.delivery, desk=desk)
        await app.state.hub.start(app.state.router)
        app.state.leases = leases = Leases(config.app_database)
        await _purge(config, app.state.handovers, leases)
        tasks = [asyncio.create_task(_retry_loop(app.state.router, leases)),
                 asyncio.create_task(_purge_loop(config, app.state.handovers, leases)),
                 asyncio.create_task(_desk_loop(desk, leases))]
        yield
        for task in tasks:
            task.cancel()
        with contextlib.suppress(*db.ERRORS):
            await run_in_threadpool(leases.release_all)
        await app.state.hub.stop()
        await app.state.wakeups.stop()
        await app.state.rasa.aclose()
        app.state.handovers.close()

    return Starlette(
        routes=[
            *auth.routes(),
            *console.routes(),
            *admin.routes(),
            Route("/", index),
            Route("/widget.js", widget_js),
            Route("/api/conversations", create_conversation, methods=["POST"]),
            Route("/api/messages", post_message, methods=["POST"]),
            Route("/api/conversations/{conversation_id}/messages", get_messages),
            Route("/api/conversations/{conversation_id}/events", conversation_events),
            Route("/healthz", healthz),
            Route("/dossiers/pdf/{token}", dossier_pdf),
            Route("/api/staff/dossiers", staff_list),
            Route("/api/staff/dossiers/{code}",
                  access_log.audited(staff_show, "dossier", "code", staff.normalise_code)),
            Route("/api/staff/dossiers/{code}/state",
                  access_log.audited(staff_set_state, "dossier", "code", staff.normalise_code), methods=["POST"]),
            Route("/api/staff/messages/failed", staff_failed_messages),
            Route("/channels/{name}/webhook", channel_webhook, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        ],
        middleware=[Middleware(SecurityHeadersMiddleware, frame_origins=widget_origins(config.widget_origins)),
                    Middleware(ErrorMiddleware),
                    Middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes),
                    Middleware(NoRangeMiddleware)],
        exception_handlers={Exception: _server_error, HTTPException: _http_error, **auth.exception_handlers(),
                            **admin_common.exception_handlers()},
        lifespan=lifespan,
    )

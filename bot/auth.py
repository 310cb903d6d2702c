"""Login for the volunteer console and staff pages: thin Starlette routes over ``bot.accounts``.

Mounting (in ``bot/app.py``)::

    auth.install(app.state, config)     # in the lifespan: app.state.auth (AccountStore + cookie settings)
    *auth.routes(),                     # in the route list

Routes (errors are ``{"error": "<Vietnamese message>"}``, every answer ``Cache-Control: no-store``):

- ``POST /api/auth/login`` ``{"username", "password"}`` (``Content-Type: application/json``, else 415)
  → 200 ``{"username", "role", "team", "display_name", "csrf_token"}`` and the session cookie;
  401 wrong password or unknown username (one message for both); 423 locked account
  (``locked_until`` ISO time and ``Retry-After``); 429 too many failures from this address;
  403 disabled account (said only once the password was right); 400 malformed body.
- ``POST /api/auth/logout`` (needs ``X-CSRF-Token``) → 200 ``{"ok": true}``: the session ends and
  the cookie is cleared.
- ``GET /api/auth/me`` → 200 the same fields as the login (the page gets its CSRF token back after a
  reload) or 401.

The cookie ``tthc_session`` holds a random token (the database keeps only its SHA-256); it is
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it),
``Path=/``, ``Max-Age`` the session's 12 h, and ``Secure`` when ``BOT_PUBLIC_URL`` starts with
``https://`` — so a deployment behind HTTPS must set ``BOT_PUBLIC_URL``, and a plain
``http://localhost`` test setup still works.

CSRF: every state-changing request (POST, PUT, PATCH, DELETE) of a logged-in page must carry the
session's CSRF token in header ``X-CSRF-Token`` (compared in constant time), on top of the
SameSite cookie. Other routes protect themselves with ``require``::

    try:
        session = await auth.require(request, roles={"supervisor", "admin"})
    except auth.Denied as denied:
        return denied.response()

or register ``auth.exception_handlers()`` on the app and let ``Denied`` propagate.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.accounts import (
    AccountDisabled,
    AccountLocked,
    AccountStore,
    LoginFailed,
    LoginThrottled,
    Session,
)
from bot.httpjson import is_json

__all__ = ["COOKIE", "CSRF_HEADER", "Auth", "Denied", "install", "routes", "require", "exception_handlers"]

log = logging.getLogger(__name__)
COOKIE = "tthc_session"
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_LOGIN_BODY = 8192
MAX_USERNAME_CHARS = 200
NO_STORE = {"Cache-Control": "no-store"}

NOT_LOGGED_IN = "Bạn chưa đăng nhập hoặc phiên làm việc đã hết hạn. Bạn vui lòng đăng nhập lại."
WRONG_ROLE = "Tài khoản của bạn không có quyền thực hiện thao tác này."
BAD_CSRF = ("Thiếu hoặc sai mã chống giả mạo (tiêu đề “X-CSRF-Token”). "
            "Bạn vui lòng tải lại trang và thử lại.")
NOT_JSON = "Yêu cầu phải gửi dạng JSON (tiêu đề “Content-Type: application/json”)."
BAD_LOGIN = 'Yêu cầu không hợp lệ: cần JSON có "username" và "password" (chuỗi).'
LOGIN_TOO_LARGE = "Nội dung gửi lên quá lớn."
LOGGED_OUT = "Bạn đã đăng xuất."


@dataclass
class Auth:
    """What ``install`` keeps on ``app.state.auth``."""

    accounts: AccountStore
    secure_cookie: bool
    # Called (in the thread pool) after a login with (username, role) and after a logout with
    # (username,): the volunteer console marks presence and returns a leaver's chats to the queue.
    on_login: list[Callable[[str, str], None]] = field(default_factory=list)
    on_logout: list[Callable[[str], None]] = field(default_factory=list)


def install(app_state, config, accounts: AccountStore | None = None) -> Auth:
    """Put the account store and the cookie settings on ``app_state`` (``app.state``)."""
    auth = Auth(accounts=accounts or AccountStore.from_settings(config),
                secure_cookie=(config.public_url or "").strip().lower().startswith("https://"))
    app_state.auth = auth
    return auth


class Denied(HTTPException):
    """Not logged in (401), wrong role (403) or missing / wrong CSRF token (403)."""

    def __init__(self, status_code: int, message: str):
        super().__init__(status_code=status_code, detail=message)

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.detail}, status_code=self.status_code, headers=NO_STORE)


async def _handle_denied(request: Request, exc: Exception) -> Response:
    return exc.response() if isinstance(exc, Denied) else JSONResponse({"error": NOT_LOGGED_IN}, 401)


def exception_handlers() -> dict:
    """``{Denied: handler}`` for ``Starlette(exception_handlers=...)``: a ``Denied`` raised by
    ``require`` anywhere becomes its ``{"error"}`` JSON answer."""
    return {Denied: _handle_denied}


def _auth(request: Request) -> Auth:
    return request.app.state.auth


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


async def require(request: Request, roles: set[str] | frozenset[str] | None = None,
                  csrf: bool | None = None) -> Session:
    """The request's live session, else ``Denied``.

    401 without a live session (no cookie, unknown, ended, expired, account disabled); 403 when
    ``csrf`` (default: the method is POST, PUT, PATCH or DELETE) and header ``X-CSRF-Token`` is
    missing, repeated or not the session's; 403 when ``roles`` is given and the role is not in it.
    """
    token = request.cookies.get(COOKIE)
    session = await run_in_threadpool(_auth(request).accounts.session, token) if token else None
    if session is None:
        raise Denied(401, NOT_LOGGED_IN)
    if csrf is None:
        csrf = request.method.upper() in STATE_CHANGING
    if csrf:
        given = request.headers.getlist(CSRF_HEADER)
        if len(given) != 1 or not hmac.compare_digest(given[0].encode("utf-8"), session.csrf_token.encode("utf-8")):
            raise Denied(403, BAD_CSRF)
    if roles is not None and session.role not in roles:
        raise Denied(403, WRONG_ROLE)
    return session


def _set_cookie(response: Response, auth: Auth, token: str) -> None:
    response.set_cookie(COOKIE, token, max_age=int(auth.accounts.session_seconds), path="/",
                        secure=auth.secure_cookie, httponly=True, samesite="strict")


def _clear_cookie(response: Response, auth: Auth) -> None:
    response.delete_cookie(COOKIE, path="/", secure=auth.secure_cookie, httponly=True, samesite="strict")


def _error(message: str, status: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={**NO_STORE, **(headers or {})})


def _credentials(body: bytes) -> tuple[str, str] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    username, password = value.get("username"), value.get("password")
    if not (isinstance(username, str) and isinstance(password, str)) or len(username) > MAX_USERNAME_CHARS:
        return None
    try:
        username.encode("utf-8"), password.encode("utf-8")   # a lone surrogate is valid JSON, not text
    except UnicodeEncodeError:
        return None
    return username, password


def _retry_after(auth: Auth, until) -> str:
    return str(max(1, int(until.timestamp() - auth.accounts.now()) + 1))


def _me(session_or_account, csrf_token: str) -> dict:
    return {**session_or_account.public(), "csrf_token": csrf_token}


async def login(request: Request) -> Response:
    auth = _auth(request)
    if not is_json(request):
        return _error(NOT_JSON, 415)
    body = await request.body()
    if len(body) > MAX_LOGIN_BODY:
        return _error(LOGIN_TOO_LARGE, 413)
    credentials = _credentials(body)
    if credentials is None:
        return _error(BAD_LOGIN, 400)
    username, password = credentials
    try:
        account = await run_in_threadpool(auth.accounts.authenticate, username, password, _client(request))
    except LoginFailed as error:
        return _error(str(error), 401)
    except AccountLocked as error:
        return JSONResponse({"error": str(error), "locked_until": error.until.isoformat()}, status_code=423,
                            headers={**NO_STORE, "Retry-After": _retry_after(auth, error.until)})
    except LoginThrottled as error:
        return _error(str(error), 429, {"Retry-After": _retry_after(auth, error.until)})
    except AccountDisabled as error:
        return _error(str(error), 403)
    previous = request.cookies.get(COOKIE)
    if previous:
        await run_in_threadpool(auth.accounts.end_session, previous)
    token, csrf_token = await run_in_threadpool(auth.accounts.create_session, account)
    log.info("login of %s (%s)", account.username, account.role)
    for hook in auth.on_login:
        await run_in_threadpool(hook, account.username, account.role)
    response = JSONResponse(_me(account, csrf_token), headers=NO_STORE)
    _set_cookie(response, auth, token)
    return response


async def logout(request: Request) -> Response:
    auth = _auth(request)
    try:
        session = await require(request, csrf=True)
    except Denied as denied:
        response = denied.response()
        if denied.status_code == 401:
            _clear_cookie(response, auth)   # a stale cookie: nothing to end, forget it
        return response
    await run_in_threadpool(auth.accounts.end_session, request.cookies.get(COOKIE), _client(request))
    for hook in auth.on_logout:
        await run_in_threadpool(hook, session.username)
    response = JSONResponse({"ok": True, "message": LOGGED_OUT}, headers=NO_STORE)
    _clear_cookie(response, auth)
    return response


async def me(request: Request) -> Response:
    try:
        session = await require(request)
    except Denied as denied:
        response = denied.response()
        if denied.status_code == 401 and COOKIE in request.cookies:
            _clear_cookie(response, _auth(request))
        return response
    return JSONResponse(_me(session.account, session.csrf_token), headers=NO_STORE)


def routes() -> list[Route]:
    """The login routes, to add to the app's route list."""
    return [
        Route("/api/auth/login", login, methods=["POST"]),
        Route("/api/auth/logout", logout, methods=["POST"]),
        Route("/api/auth/me", me, methods=["GET"]),
    ]

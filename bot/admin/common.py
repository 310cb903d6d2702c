"""What every staff route shares: the role check, JSON bodies and answers."""

from __future__ import annotations


from starlette.requests import Request
from starlette.responses import JSONResponse

from bot import auth
from bot.accounts import Session
from bot.httpjson import BadJson, is_json, json_body

__all__ = ["ADMIN_ROLES", "NO_STORE", "NOT_FOUND", "NOT_JSON", "BAD_BODY", "staff", "body", "ok", "error", "BadBody"]

ADMIN_ROLES = frozenset({"staff", "admin"})
NO_STORE = {"Cache-Control": "no-store"}
NOT_FOUND = "Không tìm thấy mục này."
NOT_JSON = "Yêu cầu phải gửi dạng JSON (tiêu đề “Content-Type: application/json”)."
BAD_BODY = "Nội dung gửi lên không đúng dạng JSON."


class BadBody(Exception):
    """A body that is not the JSON the route needs: answered 400 (415 when not JSON at all)."""

    def __init__(self, message: str = BAD_BODY, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


async def staff(request: Request, csrf: bool | None = None) -> Session:
    """The staff member's session, else ``auth.Denied`` (401 / 403), CSRF checked on changes."""
    return await auth.require(request, roles=ADMIN_ROLES, csrf=csrf)


async def body(request: Request):
    """The request's JSON body; ``BadBody`` (415 not JSON, 400 malformed)."""
    if not is_json(request):
        raise BadBody(NOT_JSON, 415)
    try:
        return await json_body(request)
    except BadJson:
        raise BadBody() from None


def ok(data, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=NO_STORE)


def error(message: str, status: int, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=NO_STORE)




async def _handle_bad_body(request: Request, exc: Exception) -> JSONResponse:
    return error(exc.message, exc.status)


def exception_handlers() -> dict:
    """``{BadBody: handler}``: a ``BadBody`` raised by ``body`` anywhere becomes its answer."""
    return {BadBody: _handle_bad_body}

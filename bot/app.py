"""The bot app: web chat page and its JSON API, in front of Rasa.

Routes:
- ``GET /`` the web chat; ``/static/...`` its files.
- ``POST /api/messages`` ``{"conversation_id", "text"}`` or ``{"conversation_id", "payload", "title"}``
  → ``{"replies": [{"text", "buttons": [{"title", "payload"}]}]}``.
- ``GET /api/conversations/{id}/messages[?after=ISO]`` → ``{"messages": [...]}``.
- ``GET /healthz`` → ``{"ok": true, "rasa": bool}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot import settings as settings_module
from bot.conversations import InvalidConversation, Router, valid_conversation_id
from bot.rasa_client import RasaClient
from bot.store import MessageStore

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
BAD_REQUEST = "Yêu cầu không hợp lệ. Bạn vui lòng tải lại trang và thử lại."
SERVER_ERROR = "Xin lỗi, hệ thống gặp lỗi. Tin nhắn của bạn đã được lưu, bạn vui lòng thử lại sau ít phút."
RETRY_EVERY = 30.0


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
        replies = await router.handle(body.get("conversation_id"), text=body.get("text"),
                                      payload=body.get("payload"), title=body.get("title"), channel="web")
    except InvalidConversation as error:
        return _error(str(error), 400)
    return JSONResponse({"replies": replies})


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


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return _error(SERVER_ERROR, 500)


async def _retry_loop(router: Router) -> None:
    while True:
        await asyncio.sleep(RETRY_EVERY)
        with contextlib.suppress(Exception):
            await router.retry_pending()


def create_app(config: settings_module.Settings | None = None) -> Starlette:
    config = config or settings_module.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.store = MessageStore(config.app_db)
        app.state.rasa = RasaClient(config.rasa_url, timeout=config.rasa_timeout)
        app.state.router = Router(app.state.store, app.state.rasa, max_chars=config.max_message_chars)
        retry = asyncio.create_task(_retry_loop(app.state.router))
        yield
        retry.cancel()
        await app.state.rasa.aclose()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/messages", post_message, methods=["POST"]),
            Route("/api/conversations/{conversation_id}/messages", get_messages),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        ],
        exception_handlers={Exception: _server_error},
        lifespan=lifespan,
    )

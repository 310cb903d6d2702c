"""The action server: rasa_sdk's own app (``rasa_sdk.endpoint.create_app``, its
``ActionExecutor`` and routes) behind a guard. Run as ``python -m bot.action_server``.

Stock ``python -m rasa_sdk`` listens on every interface with no authentication: anyone
reaching the port could post a forged tracker with any sender id and create drafts and
dossiers in its name. It also inflates deflate-compressed bodies with no limit. Here:

- it listens on ``ACTIONS_HOST`` (default 127.0.0.1) and ``ACTIONS_PORT``;
- every route but ``GET /health`` answers 401, before anything runs, unless the request
  carries ``Authorization: Bearer <ACTIONS_TOKEN>`` (``settings.actions_token``, derived
  from ``BOT_SECRET`` by default; Rasa sends it, see endpoints.yml). Compared in constant
  time on bytes;
- a body over ``MAX_BODY_BYTES`` (1 MB) answers 413; a ``Content-Encoding: deflate`` body
  is inflated with the same hard cap (413 beyond it), any other encoding answers 415;
- an error inside an action answers 500 with no detail, and is logged with its type and
  frames only: stock rasa_sdk echoes the whole request (the tracker: everything the
  citizen wrote) in the response, and Rasa then logs that response.
"""

from __future__ import annotations

import logging
import sys
import zlib

from rasa_sdk import endpoint
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request

from bot import settings as bot_settings
from bot.rasa_channel import header_matches

logger = logging.getLogger("bot.action_server")

MAX_BODY_BYTES = 1024 * 1024
OPEN_PATHS = {"/health"}


class BodyTooLarge(ValueError):
    """The inflated body would exceed the cap."""


def inflate(data: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """Inflate a zlib/deflate body, never producing more than ``limit`` bytes."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(limit)
    out += inflater.flush(limit + 1 - len(out))
    if len(out) > limit:
        raise BodyTooLarge(limit)
    return out


def create_app(config: bot_settings.Settings | None = None, actions: str = "actions") -> Sanic:
    config = config or bot_settings.load()
    app = endpoint.create_app(actions, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    expected = f"Bearer {config.actions_token}".encode()

    @app.on_request
    async def guard(request: Request):
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return None
        if not header_matches(request.headers.get("authorization"), expected):
            return response.json({"error": "unauthorized"}, status=401)
        encoding = (request.headers.get("content-encoding") or "identity").strip().lower()
        if encoding == "identity":
            return None
        if encoding != "deflate":
            return response.json({"error": "unsupported content encoding"}, status=415)
        try:
            request.body = inflate(request.body or b"")
        except BodyTooLarge:
            return response.json({"error": "body too large"}, status=413)
        except zlib.error:
            return response.json({"error": "invalid deflate body"}, status=400)
        del request.headers["content-encoding"]  # rasa_sdk's handler reads the inflated body as JSON
        return None

    def on_error(request: Request, error: Exception):
        if isinstance(error, SanicException):  # 404, 405, 413 … keep their status
            return response.json({"error": type(error).__name__}, status=getattr(error, "status_code", 500) or 500)
        action = None
        try:
            action = (request.json or {}).get("next_action")
        except Exception:
            pass
        logger.error("action %s failed with %s", action if isinstance(action, str) else "?",
                     type(error).__name__, exc_info=error)
        return response.json({"error": "action failed"}, status=500)

    # Replaces rasa_sdk's handler (which answers with the request body, i.e. the tracker).
    app.error_handler.add(Exception, on_error)
    return app


def main() -> None:
    from bot.processes import install_log_hygiene

    install_log_hygiene()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    config = bot_settings.load()
    app = create_app(config)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    logger.info("action server on http://%s:%s", config.actions_host, config.actions_port)
    # ACTIONS_PROCESSES > 1: Sanic's workers share the port (the actions keep no state between calls;
    # what they store goes through bot.db and the limiter, shared by every process).
    app.run(config.actions_host, config.actions_port, workers=config.actions_processes, access_log=False,
            motd=False)


if __name__ == "__main__":
    main()

"""A loopback stand-in for the Telegram Bot API (``{base}/bot<token>/<method>``).

Answers the documented shapes (``{"ok": true, "result": ...}``; errors ``{"ok": false,
"error_code", "description", "parameters": {"retry_after"}}``), records every call (method,
fields of a JSON, form or multipart body, uploaded files), fails on demand for the next N
calls, and refuses any other token with 401. Run it with ``tests.loopback.LoopbackServer``.

PTB sends form-encoded bodies (multipart with a file) whose structured values are JSON
strings, as the real API accepts: ``Call.param`` decodes those.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PAYLOADS = Path(__file__).parent / "payloads"
BOT_USER = {"id": 700000001, "is_bot": True, "first_name": "Trợ lý thủ tục", "username": "thu_tuc_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}


def load_update(name: str) -> dict:
    """A sample update from ``payloads/telegram_update_<name>.json``."""
    return json.loads((PAYLOADS / f"telegram_update_{name}.json").read_text(encoding="utf-8"))


@dataclass
class Call:
    method: str
    fields: dict[str, str]                                   # every non-file field, as sent
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)   # name -> (filename, content)
    content_type: str = ""
    ok: bool = True                                          # False when the fake answered an error

    def param(self, name: str) -> Any:
        """A field as the Bot API reads it: JSON-decoded where it is JSON (reply_markup, ids)."""
        value = self.fields.get(name)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return value


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: Optional[int] = None
    method: Optional[str] = None


FAILURES = {
    500: "Internal Server Error",
    429: "Too Many Requests: retry after {retry_after}",
    403: "Forbidden: bot was blocked by the user",
    400: "Bad Request: chat not found",
}


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token_abc"):
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1)
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])

    # -- test controls ----------------------------------------------------------------------

    def fail_next(self, times: int = 1, status: int = 500, retry_after: Optional[int] = None,
                  method: Optional[str] = None) -> None:
        """The next ``times`` calls (of ``method``, or any) answer ``status`` (500, 429, 403, 400)."""
        description = FAILURES.get(status, "Error").format(retry_after=retry_after)
        with self._lock:
            self._failures.extend(_Failure(status, description, retry_after, method) for _ in range(times))

    def queue_update(self, update: dict) -> None:
        """An update for ``getUpdates`` to deliver."""
        with self._lock:
            self.updates.append(update)

    def calls_to(self, method: str, ok_only: bool = False) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.updates.clear()
            self._failures.clear()

    # -- the API ----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        call = await _read_call(method, request)
        with self._lock:
            self.calls.append(call)
            failure = self._take_failure(method)
        if failure is not None:
            call.ok = False
            return _error(failure.status, failure.description, failure.retry_after)
        answer = getattr(self, f"_{method}", None)
        if answer is None:
            return _error(404, "Not Found")
        return JSONResponse({"ok": True, "result": answer(call)})

    def _take_failure(self, method: str) -> Optional[_Failure]:
        for index, failure in enumerate(self._failures):
            if failure.method in (None, method):
                return self._failures.pop(index)
        return None

    def _getMe(self, call: Call) -> dict:
        return BOT_USER

    def _setWebhook(self, call: Call) -> bool:
        return True

    def _deleteWebhook(self, call: Call) -> bool:
        return True

    def _answerCallbackQuery(self, call: Call) -> bool:
        return True

    def _sendMessage(self, call: Call) -> dict:
        message = self._message(call)
        message["text"] = call.fields["text"]
        return message

    def _sendDocument(self, call: Call) -> dict:
        filename, content = next(iter(call.files.values()))
        message = self._message(call)
        message["document"] = {"file_id": f"doc-{message['message_id']}", "file_unique_id": f"u{message['message_id']}",
                               "file_name": filename, "mime_type": "application/pdf", "file_size": len(content)}
        return message

    def _getUpdates(self, call: Call) -> list[dict]:
        offset = call.param("offset") or 0
        with self._lock:   # updates below the offset are confirmed: forget them
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return list(self.updates[: call.param("limit") or 100])

    def _message(self, call: Call) -> dict:
        chat_id = call.param("chat_id")
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private", "first_name": "Công dân"}, "from": BOT_USER}
        markup = call.param("reply_markup")
        if markup:
            message["reply_markup"] = markup
        return message


def _error(status: int, description: str, retry_after: Optional[int] = None) -> JSONResponse:
    body: dict = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


async def _read_call(method: str, request: Request) -> Call:
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    files: dict[str, tuple[str, bytes]] = {}
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    elif content_type.startswith("multipart/form-data"):
        fields, files = _multipart(content_type, body)
    else:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        fields.update(request.query_params)
    return Call(method, fields, files, content_type)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Parse multipart/form-data with the standard library (python-multipart is not installed)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, content)
        else:
            fields[name] = content.decode()
    return fields, files

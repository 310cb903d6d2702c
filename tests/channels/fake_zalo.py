"""A loopback stand-in for Zalo: the OA send endpoint and the OAuth token endpoint.

Built from the documented shapes (samples in ``tests/channels/payloads/zalo_*.json``):

- ``POST /v3.0/oa/message/cs`` checks the ``access_token`` header against the tokens it issued
  (``-216`` otherwise), checks the body's shape (``recipient.user_id``, ``message.text`` of at
  most 2,000 characters after NFC, at most 5 ``oa.query.*`` buttons) and answers HTTP 200 with
  ``{"error": 0, "message": "Success", "data": {...}}``.
- ``POST /v4/oa/access_token`` (form-encoded ``refresh_token``, ``app_id``, ``grant_type`` and a
  ``secret_key`` header) spends the single-use refresh token and issues a new pair; the old
  access token stops working.

Every request is recorded (path, headers, JSON or form body); failures are queued on demand
(``fail_next``). Run it with ``tests.loopback.LoopbackServer``::

    fake = FakeZalo()
    with LoopbackServer(fake.app, port=free_port()) as server:
        url = f"http://127.0.0.1:{server.port}"

``signed_webhook`` signs an event the way Zalo does, for tests of the channel and the app.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

PAYLOADS = Path(__file__).parent / "payloads"
SEND_PATH = "/v3.0/oa/message/cs"
TOKEN_PATH = "/v4/oa/access_token"

APP_ID = "2954271935046532045"      # the app id in the sample events
APP_SECRET = "fake-app-secret"
OA_SECRET_KEY = "fake-oa-secret-key"
FIRST_ACCESS = "access-0"
FIRST_REFRESH = "refresh-0"

ERROR_MESSAGES = {
    -32: "Request exceeds the rate limit",
    -201: "Parameters are invalid",
    -211: "Out of quota",
    -213: "User has not followed OA",
    -216: "Access token is invalid",
    -220: "Access token has expired or been removed",
    -230: "User has not interacted with the OA in the last 7 days",
    -244: "User has blocked this type of message",
}


def payload(name: str) -> Any:
    """A sample from ``payloads/zalo_<name>.json``."""
    return json.loads((PAYLOADS / f"zalo_{name}.json").read_text(encoding="utf-8"))


def payload_bytes(name: str) -> bytes:
    """A sample event's exact bytes (what Zalo signs)."""
    return (PAYLOADS / f"zalo_{name}.json").read_bytes()


def signature(body: bytes, oa_secret_key: str = OA_SECRET_KEY, app_id: str | None = None,
              timestamp: str | None = None) -> str:
    """``X-ZEvent-Signature`` for ``body``: ``mac=`` + sha256(app_id + body + timestamp + OA secret key),
    with ``app_id`` and ``timestamp`` read from the body unless given."""
    event = json.loads(body)
    app_id = str(event["app_id"]) if app_id is None else app_id
    timestamp = str(event["timestamp"]) if timestamp is None else timestamp
    return "mac=" + hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()


def signed_webhook(event: dict | bytes, oa_secret_key: str = OA_SECRET_KEY) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a webhook call as Zalo makes it; ``event`` as a dict or exact bytes."""
    body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", "X-ZEvent-Signature": signature(body, oa_secret_key)}


def event(name: str, **changes: Any) -> dict:
    """A sample event with fields replaced (``message={"text": ...}`` merges into ``message``)."""
    data = payload(name)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


class FakeZalo:
    """The fake's state; ``app`` is the Starlette app to serve."""

    def __init__(self, app_id: str = APP_ID, app_secret: str = APP_SECRET, access_token: str = FIRST_ACCESS,
                 refresh_token: str = FIRST_REFRESH, expires_in: str = "90000"):
        self.app_id = app_id
        self.app_secret = app_secret
        self.expires_in = expires_in
        self._first = (access_token, refresh_token)
        self._mutex = threading.Lock()
        self.reset()
        self.app = Starlette(routes=[Route(SEND_PATH, self._send, methods=["POST"]),
                                     Route(TOKEN_PATH, self._token, methods=["POST"])])

    def reset(self) -> None:
        """Back to the first pair, no requests, no queued failures."""
        with self._mutex:
            self.requests: list[dict] = []
            self.valid_access: set[str] = {self._first[0]}
            self.valid_refresh: set[str] = {self._first[1]}
            self.issued: list[dict] = []        # every pair the token endpoint issued
            self._failures: dict[str, list] = {"send": [], "refresh": []}
            self._counter = itertools.count(1)
            self.refresh_delay = 0.0            # seconds the token endpoint takes (concurrency tests)
            self.on_send: Callable[[dict], None] | None = None   # called (in the server thread) on each send

    # -- test controls

    def fail_next(self, failure: int | str, times: int = 1, retry_after: str | None = None) -> None:
        """Make the next ``times`` sends fail: an error code (-216, -220, -32, -230, -213, ...) answered
        with HTTP 200, ``"http500"``/``"http503"``, or ``"nonjson"``. ``retry_after`` adds that header."""
        with self._mutex:
            self._failures["send"].extend([(failure, retry_after)] * times)

    def fail_refresh(self, times: int = 1) -> None:
        """Make the next ``times`` refreshes answer Zalo's failed-refresh shape (no access_token)."""
        with self._mutex:
            self._failures["refresh"].extend(["refused"] * times)

    def revoke_access(self) -> None:
        """Every access token issued so far stops working (as if expired): sends answer -216."""
        with self._mutex:
            self.valid_access.clear()

    @property
    def sends(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == SEND_PATH]

    @property
    def delivered(self) -> list[dict]:
        """JSON bodies of sends the fake accepted."""
        return [r["json"] for r in self.sends if (r.get("answer") or {}).get("error") == 0]

    @property
    def refreshes(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == TOKEN_PATH]

    # -- endpoints

    def _record(self, request: Request, raw: bytes, **fields: Any) -> dict:
        record = {"path": request.url.path, "method": request.method,
                  "headers": {k.lower(): v for k, v in request.headers.items()}, "raw": raw, **fields}
        with self._mutex:
            self.requests.append(record)
        return record

    def _answer(self, record: dict, data: dict, status: int = 200, headers: dict | None = None) -> Response:
        record["answer"] = data
        return JSONResponse(data, status_code=status, headers=headers)

    async def _send(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = self._record(request, raw, json=body)
        if self.on_send is not None:
            self.on_send(record)
        with self._mutex:
            failure = self._failures["send"].pop(0) if self._failures["send"] else None
        if failure is not None:
            kind, retry_after = failure
            headers = {"Retry-After": retry_after} if retry_after else None
            if kind == "nonjson":
                record["answer"] = None
                return PlainTextResponse("<html>Bad gateway</html>", status_code=200)
            if isinstance(kind, str) and kind.startswith("http"):
                record["answer"] = None
                return PlainTextResponse("Service unavailable", status_code=int(kind[4:]))
            return self._answer(record, {"error": kind, "message": ERROR_MESSAGES.get(kind, "Error")}, headers=headers)
        token = request.headers.get("access_token")
        with self._mutex:
            valid = token in self.valid_access
        if not valid:
            return self._answer(record, payload("error_216"))
        problem = _check_message(body)
        if problem:
            return self._answer(record, {"error": -201, "message": f"Parameters are invalid: {problem}"})
        answer = copy.deepcopy(payload("send_success"))
        answer["data"]["message_id"] = f"msg-{next(self._counter)}"
        answer["data"]["user_id"] = body["recipient"]["user_id"]
        answer["data"]["sent_time"] = str(int(time.time() * 1000))
        return self._answer(record, answer)

    async def _token(self, request: Request) -> Response:
        raw = await request.body()
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        record = self._record(request, raw, form=form,
                              content_type=request.headers.get("content-type", ""))
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        with self._mutex:
            refused = self._failures["refresh"].pop(0) if self._failures["refresh"] else None
            good = (refused is None and request.headers.get("secret_key") == self.app_secret
                    and form.get("app_id") == self.app_id and form.get("grant_type") == "refresh_token"
                    and form.get("refresh_token") in self.valid_refresh
                    and "application/x-www-form-urlencoded" in record["content_type"])
            if good:
                self.valid_refresh.discard(form["refresh_token"])   # single use
                number = len(self.issued) + 1
                pair = {"access_token": f"access-{number}", "refresh_token": f"refresh-{number}",
                        "expires_in": self.expires_in}
                self.issued.append(pair)
                self.valid_access = {pair["access_token"]}           # the old access token stops working
                self.valid_refresh.add(pair["refresh_token"])
        if not good:
            return self._answer(record, payload("refresh_failed"))
        return self._answer(record, dict(pair))


def _check_message(body: Any) -> str | None:
    """What is wrong with a send body, or None."""
    if not isinstance(body, dict):
        return "body"
    recipient, message = body.get("recipient"), body.get("message")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("user_id"), str):
        return "recipient.user_id"
    if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not message["text"]:
        return "message.text"
    if len(unicodedata.normalize("NFC", message["text"])) > 2000:
        return "message.text longer than 2000"
    attachment = message.get("attachment")
    if attachment is not None:
        if not isinstance(attachment, dict) or attachment.get("type") != "template":
            return "message.attachment.type"
        buttons = (attachment.get("payload") or {}).get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 5:
            return "message.attachment.payload.buttons"
        for button in buttons:
            if not isinstance(button, dict) or not isinstance(button.get("title"), str) or not button["title"]:
                return "button.title"
            if button.get("type") not in ("oa.query.hide", "oa.query.hide"):
                return "button.type"
            if not isinstance(button.get("payload"), str) or not 0 < len(button["payload"]) <= 1000:
                return "button.payload"
    return None

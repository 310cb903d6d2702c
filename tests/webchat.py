"""Helpers for tests that talk to the web chat API: a conversation of one's own, a live app server.

    conversation_id, headers = new_conversation(client)          # TestClient or httpx.Client
    conversation_id, headers = new_conversation(stack.base_url)  # or a base URL
    client.post("/api/messages", json={"conversation_id": conversation_id, "text": "..."}, headers=headers)
"""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.processes import free_port
from bot.web_sessions import HEADER

__all__ = ["ANSWERING_RASA", "new_conversation", "ask_new_conversation", "Conversations", "AppServer", "HEADER", "read_events"]


def new_conversation(client_or_base_url) -> tuple[str, dict[str, str]]:
    """A new web conversation from ``POST /api/conversations``: its id and the headers to send with it."""
    if isinstance(client_or_base_url, str):
        response = httpx.post(f"{client_or_base_url.rstrip('/')}/api/conversations", timeout=30)
    else:
        response = client_or_base_url.post("/api/conversations")
    assert response.status_code == 201, (response.status_code, response.text)
    body = response.json()
    return body["conversation_id"], {HEADER: body["token"]}


BUSY = "Hệ thống đang bận"


def ask_new_conversation(base_url: str, text: str, attempts: int = 1, timeout: float = 120,
                         pause: float = 5) -> str:
    """A citizen's question in a new web conversation through ``POST /api/messages``: the bot's
    replies as one text. The busy answer (Rasa slower than RASA_TIMEOUT, e.g. a fresh stack's first
    turn on a loaded machine) is asked again, ``attempts`` times in all, ``pause`` seconds apart."""
    answer = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause)
        conversation_id, headers = new_conversation(base_url)
        response = httpx.post(f"{base_url}/api/messages", json={"conversation_id": conversation_id, "text": text},
                              headers=headers, timeout=timeout)
        assert response.status_code == 200, response.text
        answer = " ".join(r.get("text") or "" for r in response.json()["replies"])
        if not answer.startswith(BUSY):
            break
    return answer


class AppServer:
    """The bot app (with its lifespan) under uvicorn on a loopback port, in a background thread.

    Unlike ``starlette.testclient``, this serves real streaming responses (server-sent events) to
    real clients (httpx streams, the browser).
    """

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="on", ws="none", timeout_graceful_shutdown=3))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> "AppServer":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("app server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def read_events(response: httpx.Response, count: int, timeout: float = 10.0) -> list[dict]:
    """Reads ``count`` events (``{"id", "event", "data"}``) from an open SSE response (comments skipped)."""
    events: list[dict] = []
    current: dict = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            break
        if line.startswith(":"):
            continue
        if not line:
            if current:
                events.append(current)
                current = {}
                if len(events) >= count:
                    break
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        current[name] = current[name] + "\n" + value if name == "data" and name in current else value
    return events


class Conversations:
    """Conversations issued by the server, named by the test: ``chats["web-jam"]`` is the real id.

    For tests that are not about ownership but need several conversations by name.
    """

    def __init__(self, client):
        self.client = client
        self._issued: dict[str, tuple[str, dict[str, str]]] = {}

    def _get(self, name: str) -> tuple[str, dict[str, str]]:
        if name not in self._issued:
            self._issued[name] = new_conversation(self.client)
        return self._issued[name]

    def __getitem__(self, name: str) -> str:
        return self._get(name)[0]

    def headers(self, name: str) -> dict[str, str]:
        return self._get(name)[1]

    def name_of(self, conversation_id: str) -> str:
        return next((name for name, (cid, _) in self._issued.items() if cid == conversation_id), conversation_id)

    def post(self, name: str, **body):
        conversation_id, headers = self._get(name)
        return self.client.post("/api/messages", json={"conversation_id": conversation_id, **body}, headers=headers)

    def history(self, name: str) -> list[dict]:
        conversation_id, headers = self._get(name)
        response = self.client.get(f"/api/conversations/{conversation_id}/messages", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["messages"]


# A well-formed web conversation id for tests that write their bodies by hand; ``owner_headers``
# signs it with the app's key (what POST /api/conversations would have answered for it).
TEST_CONVERSATION = "web-0123456789abcdef"


def owner_headers(config, conversation_id: str = TEST_CONVERSATION) -> dict[str, str]:
    from bot.web_sessions import WebSessions

    return {HEADER: WebSessions(config.derived_secret("web-conversation")).token(conversation_id)}


async def _answer(request):
    body = await request.json()
    return JSONResponse([{"recipient_id": body["sender"], "text": "Dạ, mình trả lời đây.", "buttons": []}])


# A stand-in Rasa that answers every message with one polite line (serve it with tests.loopback).
ANSWERING_RASA = Starlette(routes=[Route("/webhooks/rest/webhook", _answer, methods=["POST"]),
                                   Route("/", lambda r: JSONResponse({}))])

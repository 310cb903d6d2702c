"""A stand-in Rasa for the handover tests: the REST channel and the conversation API the desk uses.

It behaves like Rasa 3.6 where the handover depends on it: a message to a *paused* tracker is
logged and answered with nothing; ``POST /conversations/{id}/tracker/events`` takes one event or a
list (``pause``, ``resume``, ``bot``, ``action``); ``GET /conversations/{id}/tracker`` answers the
slots and events. A message containing "gặp người" answers with the handover marker the real
``action_request_human`` sends (``{"custom": {"handover": …}}``); "hộ chiếu" sets the procedure
slot. The API routes need ``?token=`` like Rasa's ``--auth-token``.
"""

from __future__ import annotations

from collections import defaultdict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot import settings


class FakeRasa:
    def __init__(self, token: str | None = None):
        self.token = token
        self.paused: dict[str, bool] = defaultdict(bool)
        self.events: dict[str, list[dict]] = defaultdict(list)
        self.slots: dict[str, dict] = defaultdict(dict)
        self.app = Starlette(routes=[
            Route("/webhooks/rest/webhook", self.webhook, methods=["POST"]),
            Route("/conversations/{sender}/tracker/events", self.append, methods=["POST"]),
            Route("/conversations/{sender}/tracker", self.tracker, methods=["GET"]),
            Route("/", lambda r: JSONResponse({"version": "fake"})),
        ])

    def _denied(self, request: Request) -> bool:
        return self.token is not None and request.query_params.get("token") != self.token

    async def webhook(self, request: Request) -> JSONResponse:
        body = await request.json()
        sender, text = body["sender"], body.get("message") or ""
        intent = "request_human" if "gặp người" in text else ("ask_papers" if "hộ chiếu" in text else "nlu_fallback")
        if "hộ chiếu" in text:
            self.slots[sender]["procedure"] = "ho-chieu"
        self.events[sender].append({"event": "user", "text": text, "metadata": body.get("metadata") or {},
                                    "parse_data": {"intent": {"name": intent, "confidence": 0.97}}})
        if self.paused[sender]:
            return JSONResponse([])
        if intent == "request_human":
            return JSONResponse([{"recipient_id": sender,
                                  "custom": {"handover": {"reason": "asked",
                                                          "procedure": self.slots[sender].get("procedure")}}}])
        return JSONResponse([{"recipient_id": sender, "text": f"Bot trả lời: {text}"}])

    async def append(self, request: Request) -> JSONResponse:
        if self._denied(request):
            return JSONResponse({"status": "failure"}, status_code=401)
        sender = request.path_params["sender"]
        body = await request.json()
        for event in body if isinstance(body, list) else [body]:
            self.events[sender].append(event)
            if event.get("event") == "pause":
                self.paused[sender] = True
            elif event.get("event") == "resume":
                self.paused[sender] = False
        return JSONResponse({"sender_id": sender})

    async def tracker(self, request: Request) -> JSONResponse:
        if self._denied(request):
            return JSONResponse({"status": "failure"}, status_code=401)
        sender = request.path_params["sender"]
        return JSONResponse({"sender_id": sender, "slots": self.slots[sender], "paused": self.paused[sender],
                             "events": self.events[sender]})

    def kinds(self, sender: str) -> list[str]:
        return [e.get("event") for e in self.events[sender]]


def rasa_token(config: settings.Settings) -> str:
    return config.rasa_token

"""Benchmark of the human handover: delivery latency between a citizen and the volunteer console.

Part of ``make bench`` (``bot/benchmark.py``), on the running stack (real Rasa, real action
server). One volunteer logs in, a web citizen asks for a person, the volunteer claims the chat,
then for ``rounds`` rounds:

- citizen → console: from the start of the citizen's ``POST /api/messages`` until the volunteer's
  open ``GET /console/api/events`` stream delivers its ``message`` change;
- console → citizen: from the start of the volunteer's ``POST /console/api/conversations/{id}/messages``
  until the citizen's open ``GET /api/conversations/{id}/events`` stream delivers that message.

Needs OFFICE_HOURS=always on the stack (a volunteer must be able to take the chat).

Standalone, without the stack (under a minute): ``python -c "from bot.bench_handover import main;
main()"`` runs the same rounds against the real bot app (``bot.app.create_app``, a temporary data
dir, OFFICE_HOURS "always", rate limits off) under uvicorn on a loopback port, in front of
:class:`StandInRasa` — the delivery path without Rasa's own time.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import httpx

PASSWORD = "bench-password-" + uuid.uuid4().hex


def _sse(response: httpx.Response, out: "queue.Queue[tuple[float, dict]]") -> None:
    """Puts (arrival time, data) for every event of an open stream."""
    data: list[str] = []
    try:
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                out.put((time.perf_counter(), json.loads("\n".join(data))))
                data = []
    except httpx.HTTPError:
        return


def _hang_up(response: httpx.Response) -> None:
    """Ends an open stream that a reader thread is blocked on: closing the socket alone would not
    (on Linux the blocked read keeps it open, and the server's stream with it); shutting it down does."""
    network = response.extensions.get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return 1000 * statistics.median(ordered), 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _wait(events: "queue.Queue[tuple[float, dict]]", match, timeout: float = 20.0) -> float:
    deadline = time.perf_counter() + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("event not delivered")
        arrived, data = events.get(timeout=left)
        if match(data):
            return arrived


def handover_latency(base_url: str, config, rounds: int = 30) -> dict:
    """p50/p95 (ms) of both directions; ``config`` is the stack's Settings (for the account)."""
    from argon2 import PasswordHasher

    from bot.accounts import AccountStore

    username = f"bench.{uuid.uuid4().hex[:8]}"
    accounts = AccountStore.from_settings(config, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts.add(username, PASSWORD, "volunteer", team="bench", display_name="Bench")
    accounts.close()
    volunteer = httpx.Client(base_url=base_url, timeout=30)
    citizen = httpx.Client(base_url=base_url, timeout=30)
    csrf = volunteer.post("/api/auth/login", json={"username": username, "password": PASSWORD}).json()["csrf_token"]
    created = citizen.post("/api/conversations").json()
    cid, headers = created["conversation_id"], {"X-Conversation-Token": created["token"]}

    def say(text: str) -> None:
        citizen.post("/api/messages", json={"conversation_id": cid, "text": text}, headers=headers).raise_for_status()

    say("làm hộ chiếu cần giấy tờ gì")
    say("cho tôi gặp tư vấn viên")
    claimed = volunteer.post(f"/console/api/conversations/{cid}/claim", json={}, headers={"X-CSRF-Token": csrf})
    claimed.raise_for_status()
    console_events: queue.Queue = queue.Queue()
    citizen_events: queue.Queue = queue.Queue()
    to_console, to_citizen = [], []
    last_id = max(m["id"] for m in citizen.get(f"/api/conversations/{cid}/messages", headers=headers)
                  .json()["messages"])
    with volunteer.stream("GET", "/console/api/events", timeout=None) as console_stream, \
            citizen.stream("GET", f"/api/conversations/{cid}/events", headers={**headers, "Last-Event-ID": str(last_id)},
                           timeout=None) as citizen_stream:
        for stream, out in ((console_stream, console_events), (citizen_stream, citizen_events)):
            threading.Thread(target=_sse, args=(stream, out), daemon=True).start()
        time.sleep(0.5)
        sender = httpx.Client(base_url=base_url, timeout=30)
        for i in range(rounds):
            text = f"câu hỏi số {i} về lệ phí {uuid.uuid4().hex[:6]}"
            start = time.perf_counter()
            sender.post("/api/messages", json={"conversation_id": cid, "text": text}, headers=headers)
            arrived = _wait(console_events, lambda d, t=text: d.get("kind") == "message"
                            and (d.get("message") or {}).get("text") == t)
            to_console.append(arrived - start)
            reply = f"Trả lời số {i} {uuid.uuid4().hex[:6]}"
            start = time.perf_counter()
            volunteer.post(f"/console/api/conversations/{cid}/messages", json={"text": reply},
                           headers={"X-CSRF-Token": csrf}).raise_for_status()
            arrived = _wait(citizen_events, lambda d, t=reply: d.get("text") == t)
            to_citizen.append(arrived - start)
        sender.close()
        volunteer.post(f"/console/api/conversations/{cid}/release", json={}, headers={"X-CSRF-Token": csrf})
        volunteer.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        for stream in (console_stream, citizen_stream):
            _hang_up(stream)
    volunteer.close()
    citizen.close()
    c50, c95 = _percentiles(to_console)
    v50, v95 = _percentiles(to_citizen)
    return {"rounds": rounds, "citizen_to_console_p50_ms": c50, "citizen_to_console_p95_ms": c95,
            "console_to_citizen_p50_ms": v50, "console_to_citizen_p95_ms": v95}


def print_handover_latency(base_url: str, config, rounds: int = 30) -> dict:
    result = handover_latency(base_url, config, rounds)
    print("\n== Handover: delivery between a web citizen and the volunteer console (live events) ==")
    print(f"{'direction':>20} {'rounds':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for label, key in (("citizen → console", "citizen_to_console"), ("console → citizen", "console_to_citizen")):
        print(f"{label:>20} {result['rounds']:>6} {result[key + '_p50_ms']:8.1f} {result[key + '_p95_ms']:8.1f}")
    return result


# --- standalone: the bot app in front of a stand-in Rasa -----------------------------------------

class StandInRasa:
    """What the desk needs from Rasa 3.6 (like tests/handover_fakes.py, without the token check).

    The REST webhook answers a message asking for a person ("gặp tư vấn viên", "gặp người") with
    the handover marker ``action_request_human`` sends, anything else with one line, and nothing
    while the tracker is paused; ``POST /conversations/{id}/tracker/events`` takes one event or a
    list (``pause`` / ``resume`` honoured); ``GET /conversations/{id}/tracker`` answers its events.
    """

    def __init__(self) -> None:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        self.paused: dict[str, bool] = defaultdict(bool)
        self.events: dict[str, list[dict]] = defaultdict(list)
        self._json = JSONResponse
        self.app = Starlette(routes=[
            Route("/webhooks/rest/webhook", self.webhook, methods=["POST"]),
            Route("/conversations/{sender}/tracker/events", self.append, methods=["POST"]),
            Route("/conversations/{sender}/tracker", self.tracker, methods=["GET"]),
            Route("/", lambda request: JSONResponse({"version": "stand-in"})),
        ])

    async def webhook(self, request):
        body = await request.json()
        sender, text = body["sender"], body.get("message") or ""
        self.events[sender].append({"event": "user", "text": text, "metadata": body.get("metadata") or {}})
        if self.paused[sender]:
            return self._json([])
        if "gặp tư vấn viên" in text or "gặp người" in text:
            return self._json([{"recipient_id": sender, "custom": {"handover": {"reason": "asked"}}}])
        return self._json([{"recipient_id": sender, "text": f"Bot trả lời: {text}"}])

    async def append(self, request):
        sender = request.path_params["sender"]
        body = await request.json()
        for event in body if isinstance(body, list) else [body]:
            self.events[sender].append(event)
            if event.get("event") in ("pause", "resume"):
                self.paused[sender] = event["event"] == "pause"
        return self._json({"sender_id": sender})

    async def tracker(self, request):
        sender = request.path_params["sender"]
        return self._json({"sender_id": sender, "slots": {}, "paused": self.paused[sender],
                           "events": self.events[sender]})


@contextlib.contextmanager
def serve(app, port: int, lifespan: str = "off") -> Iterator[str]:
    """``app`` under uvicorn on a loopback port in a background thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan=lifespan, ws="none", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("loopback server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def standalone_handover_latency(rounds: int = 30) -> dict:
    """:func:`print_handover_latency` on the bot app in a temporary data dir, before :class:`StandInRasa`."""
    from bot import settings
    from bot.app import create_app
    from bot.processes import free_port

    with tempfile.TemporaryDirectory() as data_dir:
        config = replace(settings.load(), data_dir=Path(data_dir), port=free_port(), rasa_port=free_port(),
                         rasa_timeout=5.0, public_url="", office_hours="always", rate_limit_per_minute=0,
                         conversation_rate_per_minute=0)
        with serve(StandInRasa().app, config.rasa_port), serve(create_app(config), config.port, "on") as base_url:
            return print_handover_latency(base_url, config, rounds)


def main() -> dict:
    return standalone_handover_latency()

"""Benchmark of the human handover: delivery latency between a citizen and the volunteer console.

Part of ``make bench`` (``bot/benchmark.py``), on the running stack (real Rasa, real action
server). One volunteer logs in, a web citizen asks for a person, the volunteer claims the chat,
then for ``rounds`` rounds:

- citizen → console: from the start of the citizen's ``POST /api/messages`` until the volunteer's
  open ``GET /console/api/events`` stream delivers its ``message`` change;
- console → citizen: from the start of the volunteer's ``POST /console/api/conversations/{id}/messages``
  until the citizen's open ``GET /api/conversations/{id}/events`` stream delivers that message.

Needs OFFICE_HOURS=always on the stack (a volunteer must be able to take the chat).
"""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time
import uuid

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

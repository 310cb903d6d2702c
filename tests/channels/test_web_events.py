"""Live push to the web chat: GET /api/conversations/{id}/events (server-sent events).

The app runs under uvicorn on loopback (``tests.webchat.AppServer``) so the stream is real.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import httpx
import pytest

from bot import app as app_module
from bot import settings, staff
from bot.app import create_app
from bot.dossiers import DossierStore
from bot.store import MessageStore
from bot.web_sessions import HEADER
from tests.conftest import free_port
from tests.test_staff import TK01_ANSWERS
from tests.webchat import AppServer, new_conversation, read_events

NOTICE = "Hồ sơ HS-2026-000001 đã chuyển sang trạng thái: Đã tiếp nhận."


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=0.3,
                   secret_override="events-test-secret", rate_limit_per_minute=0)


@pytest.fixture
def server(config):
    with AppServer(create_app(config)) as running:
        yield running


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(10, read=10)) as client:
        yield client


def events_of(http, conversation_id, headers, count, **kwargs):
    with http.stream("GET", f"/api/conversations/{conversation_id}/events", headers=headers, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response, count)


def test_a_notification_another_process_stores_arrives_on_the_open_stream(config, http):
    conversation_id, headers = new_conversation(http)
    other_process = MessageStore(config.app_db)   # like the staff CLI: another connection, no wake-up
    received: list[dict] = []

    def listen():
        received.extend(events_of(http, conversation_id, headers, 1))

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.5)                                # the stream is open and has found nothing yet
    message_id = other_process.add(conversation_id, "out", NOTICE)
    listener.join(timeout=8)
    assert not listener.is_alive()
    [event] = received
    assert event["id"] == str(message_id) and event.get("event", "message") == "message"
    data = json.loads(event["data"])
    assert data["id"] == message_id and data["direction"] == "out" and data["text"] == NOTICE
    assert set(data) == {"id", "direction", "sender", "text", "buttons", "created_at"}


def test_resume_with_last_event_id_or_after_id_gets_only_newer_messages(config, http):
    conversation_id, headers = new_conversation(http)
    store = MessageStore(config.app_db)
    ids = [store.add(conversation_id, "out", f"tin {n}") for n in range(1, 5)]
    everything = events_of(http, conversation_id, headers, 4)
    assert [json.loads(e["data"])["text"] for e in everything] == ["tin 1", "tin 2", "tin 3", "tin 4"]
    resumed = events_of(http, conversation_id, {**headers, "Last-Event-ID": str(ids[1])}, 2)
    assert [e["id"] for e in resumed] == [str(ids[2]), str(ids[3])]
    resumed = events_of(http, conversation_id, headers, 1, params={"after_id": ids[2]})
    assert [e["id"] for e in resumed] == [str(ids[3])]


def test_in_process_messages_wake_the_stream_at_once(config, server, http, monkeypatch):
    """A reply or a staff state change in the app reaches the stream without waiting for the poll."""
    monkeypatch.setattr(app_module, "EVENTS_POLL_SECONDS", 30.0)
    conversation_id, headers = new_conversation(http)
    code = DossierStore(config.app_db).create("ho-chieu", conversation_id, TK01_ANSWERS, form_id="TK01",
                                              phone=TK01_ANSWERS["phone"]).code
    received: list[dict] = []
    started = time.monotonic()

    def listen():
        received.extend(events_of(http, conversation_id, headers, 1))

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.5)
    app = server.app
    # what the staff HTTP API does (in the thread pool, with the app's store)
    staff.change_state(config, code, "da_nop", actor="canbo:lan", messages=app.state.store)
    listener.join(timeout=8)
    assert not listener.is_alive() and time.monotonic() - started < 5
    [event] = received
    text = json.loads(event["data"])["text"]
    assert code in text and "Đã nộp" in text
    assert TK01_ANSWERS["personal_id"] not in text


def test_no_token_no_stream(http):
    conversation_id, _ = new_conversation(http)
    other_id, other = new_conversation(http)
    for headers in ({}, other, {HEADER: "forged"}):
        response = http.get(f"/api/conversations/{conversation_id}/events", headers=headers)
        assert response.status_code == 403 and "quyền" in response.json()["error"]
    response = http.get("/api/conversations/telegram:123/events", headers=other)
    assert response.status_code == 403


def test_bad_last_event_id_is_a_bad_request(http):
    conversation_id, headers = new_conversation(http)
    response = http.get(f"/api/conversations/{conversation_id}/events", headers={**headers, "Last-Event-ID": "x"})
    assert response.status_code == 400


def test_the_stream_ends_when_the_client_goes_away(config, server, http):
    conversation_id, headers = new_conversation(http)
    wakeups = server.app.state.wakeups
    with http.stream("GET", f"/api/conversations/{conversation_id}/events", headers=headers) as response:
        assert response.status_code == 200
        deadline = time.monotonic() + 5
        while wakeups.listeners(conversation_id) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wakeups.listeners(conversation_id) == 1
    deadline = time.monotonic() + 5
    while wakeups.listeners(conversation_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wakeups.listeners(conversation_id) == 0


def test_pings_keep_the_stream_open(config, http, monkeypatch):
    """A comment line is sent while nothing happens (proxies close silent connections)."""
    monkeypatch.setattr(app_module, "EVENTS_PING_SECONDS", 0.3)
    conversation_id, headers = new_conversation(http)
    with http.stream("GET", f"/api/conversations/{conversation_id}/events", headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith(":"):
                break
    assert line.startswith(": ping")

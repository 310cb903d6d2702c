"""A web conversation belongs to whoever the server issued it to (POST /api/conversations).

Tested as an attacker would: read or write someone else's conversation with no token, another
conversation's token, a forged one, a non-ASCII one, a platform id (``telegram:123``) — every
attempt is refused (403, or 400 for a malformed id) and stores or returns nothing; the owner works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot import settings
from bot.app import FORBIDDEN, create_app
from bot.conversations import BUSY, EMPTY
from bot.web_sessions import HEADER, WebSessions
from tests.conftest import free_port
from tests.webchat import new_conversation

SECRET_TEXT = "nhà tôi ở số 5 ngõ 12 Trần Phú"


@pytest.fixture
def config(tmp_path):
    # No Rasa on rasa_port: a text goes to the queue ("pending"), an empty one gets a local answer.
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=0.3,
                   secret_override="binding-test-secret", rate_limit_per_minute=0)


@pytest.fixture
def client(config):
    with TestClient(create_app(config)) as test_client:
        yield test_client


@pytest.fixture
def victim(client):
    """A citizen's conversation with a message in it (kept for later: Rasa is not running)."""
    conversation_id, headers = new_conversation(client)
    response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": SECRET_TEXT},
                           headers=headers)
    assert response.status_code == 200
    return conversation_id, headers


def stored(client, conversation_id):
    return client.app.state.store.history(conversation_id)


def _padding_twin(last: str) -> str:
    """Another base64 character with the same 4 data bits (43 characters carry 256 bits + 2 spare)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = alphabet.index(last)
    return alphabet[value ^ 1]


def forged_tokens(client, conversation_id):
    """Tokens an attacker might try for ``conversation_id`` (none issued by the server for it)."""
    other_id, other = new_conversation(client)
    wrong_key = WebSessions("not-the-server-key").token(conversation_id)
    real = client.app.state.sessions.token(conversation_id)
    digest = hmac.new(b"guess", conversation_id.encode(), hashlib.sha256).digest()
    return {
        "no token": {},
        "empty token": {HEADER: ""},
        "another conversation's token": other,
        "signed with another key": {HEADER: wrong_key},
        "random base64": {HEADER: base64.urlsafe_b64encode(digest).decode().rstrip("=")},
        "token with one character changed": {HEADER: real[:10] + ("A" if real[10] != "A" else "B") + real[11:]},
        "the same signature, other padding bits": {HEADER: real[:-1] + _padding_twin(real[-1])},
        "token with a suffix": {HEADER: real + "x"},
        "non-ASCII token": {HEADER: ("ậ" + real[1:]).encode("utf-8")},
        "very long token": {HEADER: "A" * 5000},
    }


def assert_refused(response, statuses=(403,)):
    assert response.status_code in statuses, (response.status_code, response.text)
    assert SECRET_TEXT not in response.text
    error = response.json()["error"]
    assert error and ("quyền" in error or "không hợp lệ" in error)


def test_new_conversation_is_a_web_id_with_its_own_token(client):
    first_id, first = new_conversation(client)
    second_id, second = new_conversation(client)
    assert first_id != second_id and first[HEADER] != second[HEADER]
    assert first_id.startswith("web-") and second_id.startswith("web-")
    sessions = client.app.state.sessions
    assert sessions.allowed(first_id, first[HEADER]) and not sessions.allowed(first_id, second[HEADER])
    response = client.post("/api/conversations")
    assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
    assert client.post("/api/conversations", json={}).status_code == 201


@pytest.mark.parametrize("kwargs, status", [
    ({"content": b"x", "headers": {"Content-Type": "text/plain"}}, 415),
    ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400),
])
def test_new_conversation_refuses_a_body_that_is_not_json(client, kwargs, status):
    assert client.post("/api/conversations", **kwargs).status_code == status


def test_the_owner_reads_and_writes(client, victim):
    conversation_id, headers = victim
    response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": ""}, headers=headers)
    assert response.status_code == 200 and response.json()["replies"][0]["text"] == EMPTY
    history = client.get(f"/api/conversations/{conversation_id}/messages", headers=headers)
    assert history.status_code == 200
    assert [m["text"] for m in history.json()["messages"]] == [SECRET_TEXT, BUSY, "", EMPTY]


def test_nobody_else_writes_into_the_conversation(client, victim):
    conversation_id, _ = victim
    before = stored(client, conversation_id)
    for name, headers in forged_tokens(client, conversation_id).items():
        for body in ({"text": "chuyển hồ sơ của tôi sang người khác"}, {"payload": "/affirm", "title": "Xác nhận"}):
            response = client.post("/api/messages", json={"conversation_id": conversation_id, **body}, headers=headers)
            assert_refused(response), name
            assert response.json()["error"] == FORBIDDEN
    assert stored(client, conversation_id) == before


def test_nobody_else_reads_the_history_or_the_events(client, victim):
    conversation_id, _ = victim
    for name, headers in forged_tokens(client, conversation_id).items():
        for path in (f"/api/conversations/{conversation_id}/messages",
                     f"/api/conversations/{conversation_id}/messages?after_id=0",
                     f"/api/conversations/{conversation_id}/events"):
            response = client.get(path, headers=headers)
            assert_refused(response), (name, path)
            assert "text/event-stream" not in response.headers.get("content-type", "")


def test_a_token_sent_twice_or_in_the_url_does_not_open_the_conversation(client, victim):
    conversation_id, headers = victim
    token = headers[HEADER]
    doubled = [(HEADER, token), (HEADER, token)]
    assert_refused(client.get(f"/api/conversations/{conversation_id}/messages", headers=doubled))
    assert_refused(client.get(f"/api/conversations/{conversation_id}/messages", params={"token": token}))


@pytest.mark.parametrize("conversation_id", ["telegram:123", "zalo:4567", "web-1", "WEB-" + "a" * 20,
                                             "e2e-passport"])
def test_other_channels_and_ids_not_issued_here_are_refused(client, conversation_id):
    store = client.app.state.store
    store.add("telegram:123", "out", "Hồ sơ HS-2026-000001 đã có kết quả.", channel="telegram")
    sessions = client.app.state.sessions
    # Even a token signed with the server's own key does not open a platform conversation.
    for headers in ({}, {HEADER: sessions.token(conversation_id)}):
        response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": "xin chào"},
                               headers=headers)
        assert_refused(response)
        response = client.get(f"/api/conversations/{conversation_id}/messages", headers=headers)
        assert_refused(response)
        assert "HS-2026-000001" not in response.text
        assert_refused(client.get(f"/api/conversations/{conversation_id}/events", headers=headers))
    assert [m["text"] for m in store.history("telegram:123")] == ["Hồ sơ HS-2026-000001 đã có kết quả."]
    assert store.history(conversation_id) == [] or conversation_id == "telegram:123"


@pytest.mark.parametrize("conversation_id", ["", "a b/../c", "web-ậ" + "a" * 20, "x" * 500])
def test_malformed_ids_are_a_bad_request(client, conversation_id):
    _, headers = new_conversation(client)
    response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": "x"}, headers=headers)
    assert_refused(response, (400,))


def test_refused_attempts_do_not_use_up_the_owners_rate_limit(config):
    config = replace(config, conversation_rate_per_minute=2)
    with TestClient(create_app(config)) as client:
        conversation_id, headers = new_conversation(client)
        for _ in range(5):
            response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": ""})
            assert response.status_code == 403
        response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": ""}, headers=headers)
        assert response.status_code == 200


def test_issuing_conversations_is_rate_limited_per_address(config):
    with TestClient(create_app(replace(config, rate_limit_per_minute=3))) as client:
        answers = [client.post("/api/conversations") for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[-1].headers["retry-after"] and "đợi" in answers[-1].json()["error"]


@pytest.mark.parametrize("after_id", ["-1", "abc", "1.5", "١٢"])
def test_a_bad_after_id_is_a_bad_request(client, victim, after_id):
    conversation_id, headers = victim
    response = client.get(f"/api/conversations/{conversation_id}/messages", params={"after_id": after_id},
                          headers=headers)
    assert response.status_code == 400
    response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": "",
                                                  "after_id": after_id}, headers=headers)
    assert response.status_code == 400
    assert [m["text"] for m in stored(client, conversation_id)] == [SECRET_TEXT, BUSY]


def test_the_answer_to_a_send_carries_the_stored_messages_after_after_id(client, victim):
    conversation_id, headers = victim
    first = client.get(f"/api/conversations/{conversation_id}/messages", headers=headers).json()["messages"][-1]
    client.app.state.store.add(conversation_id, "out", "Hồ sơ HS-2026-000002 đã được tiếp nhận.")
    response = client.post("/api/messages", json={"conversation_id": conversation_id, "text": "",
                                                  "after_id": first["id"]}, headers=headers).json()
    assert [(m["direction"], m["text"]) for m in response["messages"]] == [
        ("out", "Hồ sơ HS-2026-000002 đã được tiếp nhận."), ("in", ""), ("out", EMPTY)]
    assert all(m["id"] > first["id"] and set(m) == {"id", "direction", "sender", "text", "buttons", "created_at"}
               for m in response["messages"])

"""One message must not jam the retry queue: a failing turn is told apart from an outage,
counted, marked failed after MAX_ATTEMPTS, and the messages behind it are answered."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot import settings, staff
from bot.app import create_app
from bot.conversations import BUSY, FAILED, RETRYING
from tests.conftest import free_port
from tests.loopback import LoopbackServer
from tests.webchat import Conversations

received: list[dict] = []
JAM = '/ask_fee{"procedure": {"a":1}}'


async def fake_webhook(request):
    body = await request.json()
    received.append(body)
    if "ask_fee{" in body["message"]:  # the action behind this turn raises: Rasa answers nothing
        return JSONResponse([])
    return JSONResponse([{"recipient_id": body["sender"], "text": f"Trả lời: {body['message']}"}])


fake_rasa = Starlette(routes=[Route("/webhooks/rest/webhook", fake_webhook, methods=["POST"]),
                              Route("/health", lambda r: JSONResponse({"status": "ok"})),
                              Route("/", lambda r: JSONResponse({}))])


@pytest.fixture
def config(tmp_path):
    port = free_port()  # the stand-in answers for Rasa and for the action server's health check
    return replace(settings.load(), data_dir=tmp_path, rasa_port=port, actions_port=port, rasa_timeout=2.0,
                   max_attempts=3)


@pytest.fixture
def client(config):
    received.clear()
    with TestClient(create_app(config)) as test_client:
        test_client.chats = Conversations(test_client)
        yield test_client


def say(client, conversation_id, text):
    response = client.chats.post(conversation_id, text=text)   # conversation_id: the test's name for it
    assert response.status_code == 200
    return response.json()["replies"][0]["text"]


def retry(client) -> int:
    return client.portal.call(lambda: client.app.state.router.retry_pending(older_than=0))


def statuses(config, chats) -> dict[str, str]:
    with sqlite3.connect(config.app_db) as db:
        return {chats.name_of(cid): status for cid, status in
                db.execute("SELECT conversation_id, status FROM messages WHERE direction = 'in' ORDER BY id")}


def test_jamming_payload_then_outage_then_three_citizens_all_answered(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        assert say(client, "web-jam", JAM) == RETRYING
    assert not received[0]["message"].startswith("/")          # typed text never goes as a payload
    # Outage: Rasa is down while three other citizens write.
    assert say(client, "web-b", "lệ phí làm hộ chiếu") == BUSY
    assert say(client, "web-c", "số định danh của tôi 001090012345") == BUSY
    assert say(client, "web-d", "làm căn cước ở đâu") == BUSY
    assert retry(client) == 0                                  # still down: nothing lost, nothing counted
    received.clear()
    with LoopbackServer(fake_rasa, config.rasa_port):
        assert retry(client) == 3                              # the jam does not block the others
        answered = {client.chats.name_of(body["sender"]): body for body in received}
        # kept during the outage, retried with what the citizen typed, not the masked copy
        assert answered["web-c"]["message"] == "số định danh của tôi 001090012345"
        assert isinstance(answered["web-b"]["metadata"]["message_id"], int)
        assert retry(client) == 0                              # third failure of the jam
    assert statuses(config, client.chats) == {"web-jam": "failed", "web-b": "ok", "web-c": "ok", "web-d": "ok"}
    history = client.chats.history("web-jam")
    assert history[-1]["text"] == FAILED                       # the citizen is told
    failed = staff.failed_messages(config)
    assert [(client.chats.name_of(m["conversation_id"]), m["attempts"]) for m in failed] == [("web-jam", 3)]
    with sqlite3.connect(config.app_db) as db:                 # no clear copy once sent or failed
        assert db.execute("SELECT COUNT(*) FROM messages WHERE pending_text IS NOT NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND text LIKE '%001090012345%'").fetchone()[0] == 0


def test_failed_messages_in_the_cli(config, client, capsys, monkeypatch):
    from bot.__main__ import main

    with LoopbackServer(fake_rasa, config.rasa_port):
        say(client, "web-jam", JAM)
        retry(client)
        retry(client)
    for name, value in {"BOT_DATA_DIR": str(config.data_dir)}.items():
        monkeypatch.setenv(name, value)
    main(["messages", "failed", "--json"])
    import json

    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["conversation_id"] == client.chats["web-jam"] and rows[0]["attempts"] == 3
    assert "001" not in rows[0]["error"]


def test_rasa_error_status_is_a_failed_turn_not_an_outage(config, client):
    async def broken(request):
        return JSONResponse({"error": "boom"}, status_code=500)

    app = Starlette(routes=[Route("/webhooks/rest/webhook", broken, methods=["POST"]),
                            Route("/health", lambda r: JSONResponse({}))])
    with LoopbackServer(app, config.rasa_port):
        assert say(client, "web-x", "hộ chiếu") == RETRYING
        assert say(client, "web-x", "hộ chiếu") == RETRYING
        assert say(client, "web-x", "hộ chiếu") == RETRYING
        with sqlite3.connect(config.app_db) as db:
            attempts = [row[0] for row in db.execute("SELECT attempts FROM messages WHERE direction='in'")]
        assert attempts == [1, 1, 1]
        retry(client)
        retry(client)
    assert set(statuses(config, client.chats).values()) == {"failed"}


def test_action_server_down_is_an_outage(config, client):
    """Rasa answers nothing for every turn while the action server is down: not the message's fault."""
    async def empty(request):
        return JSONResponse([])

    app = Starlette(routes=[Route("/webhooks/rest/webhook", empty, methods=["POST"])])  # no /health
    with LoopbackServer(app, config.rasa_port):
        assert say(client, "web-y", "hộ chiếu") == BUSY
        for _ in range(5):
            retry(client)
    with sqlite3.connect(config.app_db) as db:
        assert db.execute("SELECT status, attempts FROM messages WHERE direction='in'").fetchone() == ("pending", 0)

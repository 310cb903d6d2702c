"""The bot app against a stand-in Rasa server on loopback: routing, storage, bad input, outages."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot import settings
from bot.app import create_app
from bot.conversations import BUSY, EMPTY, NO_WORDS
from tests.conftest import free_port
from tests.loopback import LoopbackServer
from tests.webchat import new_conversation

received: list[dict] = []


async def fake_webhook(request):
    body = await request.json()
    received.append(body)
    if body["message"] == "slow":
        await asyncio.sleep(3)
    return JSONResponse([{"recipient_id": body["sender"], "text": f"Bạn hỏi: {body['message']}",
                          "buttons": [{"title": "Lệ phí", "payload": "/ask_fee"}]}])


fake_rasa = Starlette(routes=[Route("/webhooks/rest/webhook", fake_webhook, methods=["POST"]),
                              Route("/", lambda r: JSONResponse({}))])


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=1.0)


@pytest.fixture
def client(config):
    received.clear()
    with TestClient(create_app(config)) as test_client:
        test_client.cid, test_client.owner = new_conversation(test_client)   # the citizen's own conversation
        yield test_client


def post(client, **body):
    return client.post("/api/messages", json={"conversation_id": client.cid, **body}, headers=client.owner)


def messages_of(client, **params):
    response = client.get(f"/api/conversations/{client.cid}/messages", params=params, headers=client.owner)
    assert response.status_code == 200
    return response.json()["messages"]


def test_message_goes_to_rasa_and_history_keeps_both_sides(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        response = post(client, text="  làm hộ chiếu  ")
    assert response.status_code == 200
    assert response.json() == {"replies": [{"text": "Bạn hỏi: làm hộ chiếu",
                                            "buttons": [{"title": "Lệ phí", "payload": "/ask_fee"}]}],
                               "message": {"text": "làm hộ chiếu"}}
    assert received[0]["sender"] == client.cid
    history = messages_of(client)
    assert [(m["direction"], m["text"]) for m in history] == [("in", "làm hộ chiếu"), ("out", "Bạn hỏi: làm hộ chiếu")]
    assert history[1]["buttons"][0]["payload"] == "/ask_fee"


def test_button_sends_payload_and_shows_title(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        post(client, text="hộ chiếu")                      # the reply offers a button "/ask_fee"
        post(client, payload="/ask_fee", title="Lệ phí")
    assert received[1]["message"] == "/ask_fee"
    history = messages_of(client)
    assert history[2]["text"] == "Lệ phí"


@pytest.mark.parametrize("text, expected", [("", EMPTY), ("   \n ", EMPTY), ("😀😀🙏", NO_WORDS)])
def test_bad_input_gets_a_polite_answer_without_nlu(config, client, text, expected):
    response = post(client, text=text)
    assert response.json()["replies"][0]["text"] == expected
    assert received == []


def test_very_long_message_is_kept_and_answered_politely(client):
    text = "hộ chiếu " * 1200
    reply = post(client, text=text).json()["replies"][0]["text"]
    assert "dài quá" in reply
    history = messages_of(client)
    assert history[0]["text"] == text.strip()


def test_html_is_stored_as_text(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        post(client, text="<script>alert(1)</script> hộ chiếu")
    history = messages_of(client)
    assert history[0]["text"] == "<script>alert(1)</script> hộ chiếu"


@pytest.mark.parametrize("body", [{"conversation_id": "", "text": "x"}, {"conversation_id": "a b/../c", "text": "x"},
                                  {"text": "x"}, ["not", "an", "object"]])
def test_invalid_requests_get_a_vietnamese_error(client, body):
    response = client.post("/api/messages", json=body, headers=client.owner)
    assert response.status_code == 400
    assert "không hợp lệ" in response.json()["error"]


def test_rasa_down_answers_busy_keeps_message_and_retries_later(config, client):
    reply = post(client, text="lệ phí làm hộ chiếu").json()["replies"][0]["text"]
    assert reply == BUSY
    store = client.app.state.store
    assert [m["text"] for m in store.history(client.cid) if m["status"] == "pending"] == ["lệ phí làm hộ chiếu"]
    with LoopbackServer(fake_rasa, config.rasa_port):
        delivered = client.portal.call(lambda: client.app.state.router.retry_pending(older_than=0))
    assert delivered == 1
    texts = [m["text"] for m in store.history(client.cid)]
    assert texts[-1] == "Bạn hỏi: lệ phí làm hộ chiếu"
    assert all(m["status"] == "ok" for m in store.history(client.cid))


def test_slow_rasa_answers_busy(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        reply = post(client, text="slow").json()["replies"][0]["text"]
    assert reply == BUSY


def test_history_after_returns_only_newer_messages(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        post(client, text="một")
        first = messages_of(client)
        post(client, text="hai")
    newer = messages_of(client, after=first[-1]["created_at"])
    assert [m["text"] for m in newer] == ["hai", "Bạn hỏi: hai"]


def test_web_chat_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'lang="vi"' in page.text


def test_long_numbers_reach_rasa_but_are_stored_masked(config, client):
    with LoopbackServer(fake_rasa, config.rasa_port):
        response = post(client, text="số của tôi 001190012345, đt 0912 345 678, hồ sơ HS-2026-000123").json()
    assert received[0]["message"] == "số của tôi 001190012345, đt 0912 345 678, hồ sơ HS-2026-000123"
    stored = "số của tôi 0011*****345, đt 0912***678, hồ sơ HS-2026-000123"
    assert response["message"] == {"text": stored}
    history = messages_of(client)
    assert history[0]["text"] == stored
    assert "12/3/1990" == post(client, text="12/3/1990").json()["message"]["text"]

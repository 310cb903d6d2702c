"""Typed text is never taken as an intent payload; entity values are checked for type."""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from actions.base import ACTION_ERROR
from actions.procedures import ActionAnswerProcedure, ActionClarify
from bot import settings
from bot.app import create_app
from bot.conversations import neutralise_typed
from tests.conftest import free_port, make_tracker
from tests.loopback import LoopbackServer
from tests.webchat import Conversations

received: list[dict] = []


async def fake_webhook(request):
    body = await request.json()
    received.append(body)
    return JSONResponse([{"text": "Bạn muốn hỏi gì?", "buttons": [{"title": "Lệ phí hộ chiếu",
                                                                 "payload": '/ask_fee{"procedure":"ho-chieu"}'}]}])


fake_rasa = Starlette(routes=[Route("/webhooks/rest/webhook", fake_webhook, methods=["POST"]),
                              Route("/health", lambda r: JSONResponse({})), Route("/", lambda r: JSONResponse({}))])


@pytest.fixture
def client(tmp_path):
    port = free_port()
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=port, actions_port=port, rasa_timeout=2.0)
    received.clear()
    with TestClient(create_app(config)) as test_client, LoopbackServer(fake_rasa, port):
        test_client.chats = Conversations(test_client)
        yield test_client


def post(client, **body):
    response = client.chats.post("web-p", **body)
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("typed", ['/ask_fee{"procedure": {"a":1}}', "/restart", "//start_dossier", " /greet"])
def test_typed_intent_payloads_reach_rasa_as_text(client, typed):
    post(client, text=typed)
    assert not received[-1]["message"].startswith("/")
    assert received[-1]["message"] == neutralise_typed(typed.strip())


def test_a_payload_the_bot_never_offered_is_sent_as_its_title(client):
    post(client, payload='/start_dossier{"procedure":"ho-chieu"}', title="Làm hộ chiếu")
    assert received[-1]["message"] == "Làm hộ chiếu"
    post(client, payload="/restart")                     # no title: nothing goes to Rasa as a payload
    assert all(not body["message"].startswith("/") for body in received)


def test_a_payload_offered_in_this_conversation_goes_as_payload(client):
    post(client, text="hộ chiếu")
    post(client, payload='/ask_fee{"procedure":"ho-chieu"}', title="Lệ phí hộ chiếu")
    assert received[-1]["message"] == '/ask_fee{"procedure":"ho-chieu"}'
    other = client.chats.post("web-q", title="x", payload='/ask_fee{"procedure":"ho-chieu"}')
    assert received[-1]["message"] == "x"             # offered to web-p, not to web-q
    assert other.status_code == 200


BAD_VALUES = [{"a": 1}, ["ho-chieu"], 12, None, True]


@pytest.mark.parametrize("value", BAD_VALUES)
async def test_entity_values_of_the_wrong_type_do_not_break_actions(domain, value):
    from rasa_sdk.executor import CollectingDispatcher

    for action in (ActionAnswerProcedure(), ActionClarify()):
        tracker = make_tracker("ask_fee", "lệ phí", entities=[{"entity": "procedure", "value": value, "text": value}],
                               slots={"procedure": value})
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, tracker, domain)
        assert dispatcher.messages and dispatcher.messages[0]["text"] != ACTION_ERROR
        assert all(e.get("value") in (None, "ho-chieu") or isinstance(e.get("value"), str) for e in events)


async def test_an_action_that_raises_answers_politely(domain, monkeypatch):
    from rasa_sdk.executor import CollectingDispatcher

    action = ActionAnswerProcedure()
    monkeypatch.setattr("actions.procedures.mentioned_procedures", lambda *a: 1 / 0)
    dispatcher = CollectingDispatcher()
    assert await action.run(dispatcher, make_tracker("ask_fee", "lệ phí hộ chiếu"), domain) == []
    assert [m["text"] for m in dispatcher.messages] == [ACTION_ERROR]

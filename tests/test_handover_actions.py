"""The actions' side of the handover: they only signal (a custom reply the app acts on)."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.dossiers import ActionDossierStep, ActionStartDossier
from actions.handoff import ActionRequestHuman, consecutive_fallbacks
from actions.procedures import ActionClarify
from tests.conftest import make_tracker
from tests.test_dossier_actions import Citizen, passport


@pytest.fixture(autouse=True)
def fresh_dossiers(dossier_data):
    return dossier_data


def handover_signals(messages: list[dict]) -> list[dict]:
    return [m["custom"]["handover"] for m in messages if isinstance(m.get("custom"), dict) and "handover" in m["custom"]]


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return dispatcher.messages, events


def fallback_tracker(times: int) -> Tracker:
    tracker = make_tracker("nlu_fallback", "qwe rty", confidence=0.2)
    earlier = [{"event": "user", "text": "asd", "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.2}}},
               {"event": "action", "name": "action_clarify"}, {"event": "action", "name": "action_listen"}]
    tracker.events = earlier * (times - 1) + tracker.events
    return tracker


async def test_asking_for_a_person_signals_a_handover_with_the_procedure(domain):
    tracker = make_tracker("request_human", "cho tôi gặp tư vấn viên", slots={"procedure": "ho-chieu"})
    messages, _ = await run(ActionRequestHuman(), tracker, domain)
    assert handover_signals(messages) == [{"reason": "asked", "procedure": "ho-chieu"}]
    assert not any(m.get("text") for m in messages)          # the app says where the citizen stands


async def test_a_forged_procedure_slot_is_not_passed_on(domain):
    tracker = make_tracker("request_human", "gặp người", slots={"procedure": {"x": 1}})
    messages, _ = await run(ActionRequestHuman(), tracker, domain)
    assert handover_signals(messages) == [{"reason": "asked", "procedure": None}]


async def test_not_understood_once_asks_with_a_person_button_twice_hands_over(domain):
    messages, _ = await run(ActionClarify(), fallback_tracker(1), domain)
    assert handover_signals(messages) == []
    assert {"title": "Gặp tư vấn viên", "payload": "/request_human"} in messages[-1]["buttons"]
    assert consecutive_fallbacks(fallback_tracker(2)) == 2
    messages, _ = await run(ActionClarify(), fallback_tracker(2), domain)
    assert handover_signals(messages) == [{"reason": "not_understood", "procedure": None}]
    assert "tư vấn viên" in messages[0]["text"]


async def test_a_dossier_answer_refused_three_times_hands_over_and_keeps_the_draft(domain):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    field = citizen.waiting_for()
    _, first = await citizen.say(ActionDossierStep(), "12")
    assert handover_signals(first) == [] and not first[0].get("buttons")
    _, second = await citizen.say(ActionDossierStep(), "12")
    assert handover_signals(second) == []
    assert second[0]["buttons"] == [{"title": "Gặp tư vấn viên", "payload": "/request_human"}]
    _, third = await citizen.say(ActionDossierStep(), "12")
    assert handover_signals(third) == [{"reason": "dossier", "procedure": "ho-chieu"}]
    assert "hồ sơ nháp của bạn vẫn được giữ" in third[0]["text"]
    assert citizen.waiting_for() == field                     # nothing lost, same question pending

"""Hardening 5: non-ASCII digits and wrongly typed values never crash the dossier actions.

Found as: "HS-2026-000001 ５６７８" — ``\\d`` matched the fullwidth digits and
``hmac.compare_digest`` raised TypeError on the non-ASCII str. Also forged trackers putting
a dict or a list where a str is expected (``/ask_fee{"procedure": {"a":1}}``).
"""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import dossiers
from actions.base import ACTION_ERROR as SORRY
from actions.dossiers import ActionCheckStatus, ActionDossierStep, ActionStartDossier
from bot.dossiers import DossierStore
from bot.dossiers.validators import parse_date, parse_personal_id, parse_phone
from tests.conftest import make_tracker
from tests.test_dossier_actions import ANSWERS, Citizen, passport

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
SCRIPTS = [FULLWIDTH, ARABIC_INDIC, DEVANAGARI]


@pytest.fixture(autouse=True)
def data_dir(dossier_data):
    return dossier_data


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return "\n".join(m.get("text") or "" for m in dispatcher.messages), events


# --- the status check -------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS)
async def test_status_check_with_other_scripts_digits_answers_instead_of_crashing(domain, script):
    owner = Citizen(domain)
    code = await owner.create_passport_dossier()          # phone 0912 345 678
    stranger = Citizen(domain, "stranger")
    wrong, _ = await stranger.say(ActionCheckStatus(), f"{code} {'1111'.translate(script)}", "check_status")
    assert "Không tìm thấy" in wrong and SORRY not in wrong
    right, _ = await stranger.say(ActionCheckStatus(), f"{code} {'5678'.translate(script)}", "check_status")
    assert "Trạng thái" in right


async def test_fullwidth_code_and_digits(domain):
    owner = Citizen(domain)
    code = await owner.create_passport_dossier()
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in f"{code} 5678")
    right, _ = await Citizen(domain, "stranger").say(ActionCheckStatus(), fullwidth, "check_status")
    assert "Trạng thái" in right and code in right


def test_store_compares_any_input_without_raising(tmp_path):
    store = DossierStore(tmp_path / "d.sqlite")
    d = store.create("ho-chieu", "conv-1", {}, phone="0912345678")
    for given in ("５６７８", "٥٦٧٨", "5678", 5678):
        assert store.get_for(d.code, phone_last4=given).code == d.code
    for given in ("５６７９", "é678", "56789", "", None, {"a": 1}, ["5678"], b"5678", 5678.0):
        assert store.get_for(d.code, phone_last4=given) is None
    assert store.get_for({"a": 1}, phone_last4="5678") is None
    assert store.get_for(d.code, conversation_id={"a": 1}) is None


# --- form answers -----------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS)
def test_validators_read_other_scripts_digits_as_ascii(script):
    assert parse_phone("0912 345 678".translate(script)) == "0912345678"
    assert parse_personal_id("001190012345".translate(script)) == "001190012345"
    assert parse_date("12/03/1990".translate(script)).isoformat() == "1990-03-12"
    assert parse_date("12 tháng 3 năm 1990".translate(script)).isoformat() == "1990-03-12"


@pytest.mark.parametrize("script", [FULLWIDTH, ARABIC_INDIC])
async def test_form_answers_in_other_scripts_are_stored_as_ascii(domain, script):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    answers = {k: (v.translate(script) if k in ("birth_date", "personal_id", "phone") else v)
               for k, v in ANSWERS.items()}
    summary = await citizen.answer_until_confirm(answers)
    assert SORRY not in summary
    draft = dossiers.dossier_store().load_draft(citizen.conversation_id)
    assert draft.answers["birth_date"] == "1990-03-12"
    assert draft.answers["personal_id"] == "001190012345"
    assert draft.answers["phone"] == "0912345678"
    done, _ = await citizen.say(ActionDossierStep(), "xác nhận", "affirm")
    code = dossiers.dossier_store().list_for_conversation(citizen.conversation_id)[0].code
    assert code in done
    assert dossiers.dossier_store().get(code).phone_last4 == "5678"


# --- values of the wrong type from a forged or old tracker -------------------------------------

BAD_VALUES = [{"a": 1}, ["ho-chieu"], 12, None, True, 1.5]


@pytest.mark.parametrize("bad", BAD_VALUES)
async def test_entity_and_slot_of_the_wrong_type(domain, bad):
    entities = [{"entity": "procedure", "value": bad, "text": bad, "start": 0, "end": 3}, "not-a-dict", None]
    for action in (ActionStartDossier(), ActionDossierStep(), ActionCheckStatus()):
        tracker = make_tracker("ask_fee", "lệ phí bao nhiêu?", entities, slots={"procedure": bad,
                                                                                "dossier_active": bad})
        text, events = await run(action, tracker, domain)
        assert text and SORRY not in text, (action.name(), text)
        assert isinstance(events, list)


@pytest.mark.parametrize("bad", BAD_VALUES + ["HS-2026-K7Q4MP ５６７８"])
async def test_user_event_text_intent_and_metadata_of_the_wrong_type(domain, bad):
    owner = Citizen(domain)
    await owner.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    for action in (ActionDossierStep(), ActionCheckStatus(), ActionStartDossier()):
        tracker = make_tracker("inform", "x")
        tracker.sender_id = owner.conversation_id
        tracker.events = [None, "junk", {"event": "user", "text": bad, "metadata": bad,
                                         "parse_data": {"intent": bad}}]
        tracker.latest_message = {"text": bad, "intent": bad, "entities": bad, "intent_ranking": bad}
        text, events = await run(action, tracker, domain)
        assert text and SORRY not in text, action.name()
        assert isinstance(events, list)
    draft = dossiers.dossier_store().load_draft(owner.conversation_id)
    assert draft is not None and draft.current_field == "birth_date"       # nothing was applied


async def test_an_exception_inside_an_action_becomes_a_polite_answer(domain, monkeypatch, caplog):
    def broken():
        raise RuntimeError("database is locked: 0912345678")

    monkeypatch.setattr(dossiers, "dossier_store", broken)
    for action in (ActionStartDossier(), ActionDossierStep(), ActionCheckStatus()):
        text, events = await run(action, make_tracker("check_status", "HS-2026-K7Q4MP 5678"), domain)
        assert text == SORRY and events == []
    assert "RuntimeError" in caplog.text and "0912345678" not in caplog.text

"""Hardening 3 (dossier part): a retried turn is applied once.

Found as: the bot app retries a kept message when Rasa or the action server did not answer in
time, but the first attempt may have been applied already; the same answer then landed in the
next field ("Kinh" as the ethnicity, then "Kinh" again as the religion). The app sends
``metadata = {"channel": ..., "message_id": <int>}`` with every message; the draft records
the id of the last message applied and a message already applied only repeats the question.
"""

from __future__ import annotations

import sqlite3

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import dossiers
from actions.dossiers import ActionDossierStep, ActionStartDossier
from bot.dossiers import DossierStore
from tests.conftest import make_tracker
from tests.test_dossier_actions import ANSWERS, passport


@pytest.fixture(autouse=True)
def data_dir(dossier_data):
    return dossier_data


CONVERSATION = "web-retry"


def tracker_for(text, message_id, intent="inform", entities=None, slots=None):
    tracker = make_tracker(intent, text, entities, slots or {"dossier_active": True})
    tracker.sender_id = CONVERSATION
    tracker.events[-1]["metadata"] = {"channel": "web", "message_id": message_id}
    return tracker


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker, domain)
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


def draft():
    return dossiers.dossier_store().load_draft(CONVERSATION)


async def fill_until(domain, wanted_field, first_id=1):
    """Start a passport draft and answer until ``wanted_field`` is asked; returns the next free id."""
    await run(ActionStartDossier(), tracker_for("làm hộ chiếu", first_id, "start_dossier", passport()), domain)
    mid = first_id + 1
    while draft().current_field != wanted_field:
        await run(ActionDossierStep(), tracker_for(ANSWERS[draft().current_field], mid), domain)
        mid += 1
    return mid


async def test_the_same_message_twice_is_applied_once(domain):
    mid = await fill_until(domain, "ethnicity")
    first = tracker_for("Kinh", mid)
    retry = tracker_for("Kinh", mid)              # identical: same text, same message id
    assert first.events == retry.events
    await run(ActionDossierStep(), first, domain)
    after_first = draft()
    assert after_first.answers["ethnicity"] == "Kinh" and after_first.current_field == "religion"
    assert after_first.last_message_id == mid
    reply = await run(ActionDossierStep(), retry, domain)
    after_retry = draft()
    assert "religion" not in after_retry.answers                      # not applied to the next field
    assert after_retry.answers == after_first.answers and after_retry.current_field == "religion"
    religion = dossiers.FormSession("ho-chieu").field("religion", after_first.answers)
    assert religion.prompt in reply                                   # the current question again


async def test_an_older_message_delivered_late_is_not_applied(domain):
    mid = await fill_until(domain, "ethnicity")
    await run(ActionDossierStep(), tracker_for("Kinh", mid), domain)
    await run(ActionDossierStep(), tracker_for("Không", mid + 1), domain)     # religion
    before = draft()
    await run(ActionDossierStep(), tracker_for("Kinh", mid), domain)          # the retry arrives after
    assert draft().answers == before.answers and draft().current_field == before.current_field


async def test_a_retried_edit_or_start_changes_nothing(domain):
    mid = await fill_until(domain, "sex")
    await run(ActionDossierStep(), tracker_for("sửa ngày sinh", mid), domain)
    assert draft().current_field == "birth_date"
    await run(ActionDossierStep(), tracker_for("13/3/1990", mid + 1), domain)
    state = draft()
    for again in (tracker_for("sửa ngày sinh", mid), tracker_for("làm hộ chiếu", 1, "start_dossier", passport())):
        action = ActionStartDossier() if again.latest_message["intent"]["name"] == "start_dossier" else ActionDossierStep()
        await run(action, again, domain)
        assert (draft().answers, draft().current_field) == (state.answers, state.current_field)


async def test_messages_without_an_id_still_work(domain):
    mid = await fill_until(domain, "ethnicity")
    for metadata in (None, {}, {"message_id": None}, {"message_id": "abc"}, {"message_id": True},
                     {"message_id": {"a": 1}}, "junk"):
        tracker = make_tracker("inform", "Kinh", slots={"dossier_active": True})
        tracker.sender_id = CONVERSATION
        tracker.events[-1]["metadata"] = metadata
        await run(ActionDossierStep(), tracker, domain)
        assert draft().last_message_id == mid - 1                      # unknown ids never recorded
    assert draft().answers["ethnicity"] == "Kinh" and draft().answers["religion"] == "Kinh"


def test_an_old_database_gets_the_column(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:         # form_drafts as created before this change
        conn.execute("CREATE TABLE form_drafts (conversation_id TEXT PRIMARY KEY, procedure_id TEXT NOT NULL, "
                     "form_id TEXT, answers TEXT NOT NULL, current_field TEXT, updated_at TEXT NOT NULL)")
        conn.execute("INSERT INTO form_drafts VALUES ('c', 'ho-chieu', NULL, '{\"x\": 1}', 'sex', "
                     "'2026-01-01T00:00:00+00:00')")
    store = DossierStore(path)
    old = store.load_draft("c")
    assert old.answers == {"x": 1} and old.last_message_id is None
    assert not store.already_applied(old, 1)
    store.save_draft("c", "ho-chieu", {"x": 2}, message_id=7)
    DossierStore(path)                           # opening again is harmless
    again = DossierStore(path).load_draft("c")
    assert again.last_message_id == 7 and store.already_applied(again, 7) and not store.already_applied(again, 8)
    store.save_draft("c", "ho-chieu", {"x": 3})  # no id: the last one is kept
    assert store.load_draft("c").last_message_id == 7

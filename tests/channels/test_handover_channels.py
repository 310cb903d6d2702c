"""The human handover from Telegram and from Zalo, with the real stack (Rasa model, action server,
bot app) and the loopback fake platforms (``platforms`` in conftest; ``OFFICE_HOURS`` is ``always``).

A citizen asks about a passport, then for a person → queued with a place; a volunteer logs in
(online), sees the chat in the waiting tab, claims it (the citizen is told); the bot stays silent
while the volunteer has it, yet the message reaches the console's transcript; the volunteer's reply
arrives on the citizen's platform; the volunteer hands back and the bot answers the next question
about the same procedure.
"""

from __future__ import annotations

import itertools
import time
import unicodedata
import uuid

import pytest
from argon2 import PasswordHasher

from bot.accounts import AccountStore
from tests.channels.test_channels_e2e import (
    TelegramCitizen,
    ZaloCitizen,
    settled,
    wait_for,
)
from tests.test_console import PASSWORD, Console

pytestmark = pytest.mark.stack

TEAM = "phuong-ben-thanh"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
REPLY_TIMEOUT = 30.0
SILENCE_SECONDS = 3.0
VOLUNTEER_REPLY = "Chào bạn, lệ phí là 200.000 đồng."


def text_of(message) -> str:
    """The text of what the fake platform received: a Zalo message dict or a Telegram call."""
    if isinstance(message, dict):
        return message.get("text") or ""
    return message.param("text") or ""


def joined(messages) -> str:
    return "\n".join(text_of(m) for m in messages)


def volunteer(stack) -> Console:
    """A fresh volunteer of the team, logged in (which makes them online)."""
    username = f"tnv.{uuid.uuid4().hex[:12]}"
    accounts = AccountStore.from_settings(stack.settings, hasher=FAST)
    try:
        accounts.add(username, PASSWORD, "volunteer", team=TEAM, display_name="Tình Nguyện Viên Thử")
    finally:
        accounts.close()
    return Console(stack.base_url, username)


# Telegram update ids of this module's own: pytest may import test_channels_e2e twice (as a test
# module and through the import above), and two counters started in the same second would give
# an update id the inbox has already seen — a duplicate delivery, rightly processed only once.
_update_ids = itertools.count(10**13 + uuid.uuid4().int % 10**9 * 1000)


def post(citizen, text: str):
    """Post one text message to the app's webhook without waiting for a reply."""
    if isinstance(citizen, TelegramCitizen):
        return citizen.post(citizen.text_update(text, update_id=next(_update_ids)))
    return citizen.post(text)


def say(citizen, text: str) -> list:
    """Post one text message and wait for the replies."""
    if isinstance(citizen, TelegramCitizen):
        return citizen._send(citizen.text_update(text, update_id=next(_update_ids)))
    return citizen.say(text)


def wait_received(citizen, predicate, after: int, what: str) -> list:
    """Wait until something the platform received (from index ``after`` on) satisfies ``predicate``."""
    return wait_for(lambda: [m for m in citizen.received()[after:] if predicate(text_of(m))],
                    timeout=REPLY_TIMEOUT, what=what)


def hand_over_and_back(stack, citizen, channel: str) -> None:
    console = volunteer(stack)
    conversation = citizen.conversation_id
    base = f"/console/api/conversations/{conversation}"
    try:
        # the citizen asks the bot, then for a person
        answer = joined(say(citizen, "làm hộ chiếu cần giấy tờ gì"))
        assert answer.strip(), "the bot answered the passport question"
        before = len(citizen.received())
        queued = say(citizen, "cho tôi gặp tư vấn viên")
        if "vị trí số" not in joined(queued):
            queued = wait_received(citizen, lambda t: "vị trí số" in t, before, "the place in the queue")
        assert "vị trí số" in joined(queued), joined(queued)

        # the volunteer sees it waiting, with its channel and procedure, and claims it
        waiting = wait_for(lambda: [c for c in console.tab("waiting") if c["id"] == conversation],
                           timeout=REPLY_TIMEOUT, what="the chat in the waiting tab")
        assert waiting[0]["channel"] == channel, waiting[0]
        assert waiting[0]["procedure"] == "ho-chieu", waiting[0]
        before = len(citizen.received())
        claimed = console.post(f"{base}/claim")
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["assigned_to"] == console.username
        wait_received(citizen, lambda t: "đã nhận cuộc trò chuyện" in t, before, "the claim notice")
        wait_for(lambda: settled(stack, conversation), timeout=REPLY_TIMEOUT, what="the claim notice sent")

        # while the volunteer has it the bot is silent, but the message is in the transcript
        before = len(citizen.received())
        assert post(citizen, "lệ phí bao nhiêu").status_code == 200

        def recorded():
            messages = console.detail(conversation)["messages"]
            return [m for m in messages if m["sender"] == "citizen"
                    and unicodedata.normalize("NFC", m["text"]).strip() == "lệ phí bao nhiêu"]

        wait_for(recorded, timeout=REPLY_TIMEOUT, what="the citizen's message in the console")
        time.sleep(SILENCE_SECONDS)
        wait_for(lambda: settled(stack, conversation), timeout=REPLY_TIMEOUT, what="the message processed")
        silent = citizen.received()[before:]
        assert silent == [], f"the bot answered while the volunteer had the chat: {joined(silent)!r}"

        # the volunteer's reply arrives on the platform, exactly
        sent = console.post(f"{base}/messages", {"text": VOLUNTEER_REPLY})
        assert sent.status_code == 201, sent.text
        wait_received(citizen, lambda t: t == VOLUNTEER_REPLY, before, "the volunteer's reply")

        # hand back: the citizen is told, and the bot answers about the same procedure
        before = len(citizen.received())
        released = console.post(f"{base}/release")
        assert released.status_code == 200, released.text
        wait_received(citizen, lambda t: "trả lại cuộc trò chuyện cho trợ lý" in t, before, "the release notice")
        wait_for(lambda: settled(stack, conversation), timeout=REPLY_TIMEOUT, what="the release notice sent")
        where = joined(say(citizen, "làm ở đâu"))
        assert "hộ chiếu" in where.lower(), where
    finally:
        logout = console.post("/api/auth/logout")
        console.close()
    assert logout.status_code == 200, logout.text


def test_telegram_handover_to_a_volunteer_and_back(stack, platforms):
    citizen = TelegramCitizen(stack, platforms, chat_id=int(uuid.uuid4().int % 10**12) + 10**12)
    assert citizen.conversation_id == f"telegram:{citizen.chat_id}"
    hand_over_and_back(stack, citizen, "telegram")


def test_zalo_handover_to_a_volunteer_and_back(stack, platforms):
    citizen = ZaloCitizen(stack, platforms, user_id=str(uuid.uuid4().int % 10**15 + 10**15))
    assert citizen.conversation_id == f"zalo:{citizen.user_id}"
    hand_over_and_back(stack, citizen, "zalo")

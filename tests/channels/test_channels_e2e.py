"""End to end on Zalo and Telegram: webhook in → bot app → Rasa → reply at the loopback fake platform.

The session's stack has both channels on, pointed at the fakes (``platforms`` in conftest).
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import time
import uuid

import httpx
import pytest

from bot import staff
from bot.benchmark import sample_reply
from bot.dossiers import DossierStore
from bot.dossiers.codes import find_code
from tests.channels import fake_zalo
from tests.channels.fake_telegram import load_update
from tests.conftest import TELEGRAM_SECRET

pytestmark = pytest.mark.stack
_ids = itertools.count(int(time.time()) % 1_000_000 * 1000)


def _db(stack) -> sqlite3.Connection:
    return sqlite3.connect(stack.settings.app_db, timeout=10)


def settled(stack, conversation_id: str) -> bool:
    """Nothing of this conversation waits in the inbox, for Rasa, or in the outbox."""
    with _db(stack) as db:
        inbox = db.execute("SELECT COUNT(*) FROM inbox WHERE conversation_id = ? AND status = 'received'",
                           (conversation_id,)).fetchone()[0]
        pending = db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND status = 'pending'",
                             (conversation_id,)).fetchone()[0]
        outbox = db.execute("SELECT COUNT(*) FROM outbox WHERE conversation_id = ? AND status = 'pending'",
                            (conversation_id,)).fetchone()[0]
    return inbox == 0 and pending == 0 and outbox == 0


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class ZaloCitizen:
    def __init__(self, stack, platforms, user_id: str | None = None):
        self.stack, self.fake = stack, platforms["zalo"]
        self.user_id = user_id or str(next(_ids))
        self.conversation_id = f"zalo:{self.user_id}"

    def received(self) -> list[dict]:
        return [m["message"] for m in self.fake.delivered if m["recipient"]["user_id"] == self.user_id]

    def post(self, text: str, msg_id: str | None = None) -> httpx.Response:
        event = fake_zalo.event("user_send_text", sender={"id": self.user_id}, user_id_by_app=self.user_id,
                                message={"text": text, "msg_id": msg_id or uuid.uuid4().hex},
                                timestamp=str(int(time.time() * 1000)))
        body, headers = fake_zalo.signed_webhook(event)
        return httpx.post(f"{self.stack.base_url}/channels/zalo/webhook", content=body, headers=headers, timeout=10)

    def say(self, text: str, msg_id: str | None = None) -> list[dict]:
        before = len(self.received())
        assert self.post(text, msg_id).status_code == 200
        wait_for(lambda: len(self.received()) > before and settled(self.stack, self.conversation_id),
                 what=f"Zalo reply to {text!r}")
        return self.received()[before:]


class TelegramCitizen:
    def __init__(self, stack, platforms, chat_id: int | None = None):
        self.stack, self.fake = stack, platforms["telegram"]
        self.chat_id = chat_id or next(_ids)
        self.conversation_id = f"telegram:{self.chat_id}"

    def received(self, method: str = "sendMessage") -> list:
        """What Telegram accepted for this chat (failed attempts left out)."""
        return [c for c in self.fake.calls_to(method, ok_only=True) if str(c.param("chat_id")) == str(self.chat_id)]

    def post(self, update: dict, secret: str | None = TELEGRAM_SECRET) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return httpx.post(f"{self.stack.base_url}/channels/telegram/webhook", json=update, headers=headers, timeout=10)

    def text_update(self, text: str, update_id: int | None = None) -> dict:
        update = load_update("text")
        update["update_id"] = update_id or next(_ids)
        message = update["message"]
        message["chat"]["id"] = message["from"]["id"] = self.chat_id
        message["message_id"], message["text"], message["date"] = next(_ids), text, int(time.time())
        return update

    def _send(self, update: dict) -> list:
        before = len(self.received())
        assert self.post(update).status_code == 200
        wait_for(lambda: len(self.received()) > before and settled(self.stack, self.conversation_id),
                 what="Telegram reply")
        return self.received()[before:]

    def say(self, text: str) -> list:
        return self._send(self.text_update(text))

    def press(self, call, row: int = 0) -> list:
        """Press button ``row`` of the inline keyboard sent in ``call``."""
        markup = call.param("reply_markup")
        button = markup["inline_keyboard"][row][0]
        update = load_update("callback_query")
        update["update_id"] = next(_ids)
        query = update["callback_query"]
        query["id"], query["data"] = str(next(_ids)), button["callback_data"]
        query["from"]["id"] = query["message"]["chat"]["id"] = self.chat_id
        query["message"]["reply_markup"] = markup
        return self._send(update)


def texts(messages) -> str:
    return "\n".join(m["text"] if isinstance(m, dict) else m.param("text") for m in messages)


def current_field(stack, conversation_id):
    draft = DossierStore(stack.settings.app_db).load_draft(conversation_id)
    return draft.current_field if draft else None


def fill_passport_form(stack, citizen) -> str:
    """Fill the whole passport form as the sample applicant; the final answer's text."""
    assert "hủy" in texts(citizen.say("tôi muốn làm hộ chiếu"))
    for _ in range(45):
        field = current_field(stack, citizen.conversation_id)
        if field == "__confirm__":
            break
        citizen.say(sample_reply(field))
    assert current_field(stack, citizen.conversation_id) == "__confirm__"
    return texts(citizen.say("xác nhận"))


# --- Zalo ---------------------------------------------------------------------------------------

def test_zalo_question_with_buttons_and_a_number_answer(stack, platforms):
    citizen = ZaloCitizen(stack, platforms)
    replies = citizen.say("lệ phí làm hộ chiếu bao nhiêu")
    assert "200.000" in texts(replies)
    with_buttons = [m for m in replies if m.get("attachment")]
    assert with_buttons, "topic buttons are sent as a template"
    buttons = with_buttons[-1]["attachment"]["payload"]["buttons"]
    assert all(b["type"] == "oa.query.hide" for b in buttons) and "1." in with_buttons[-1]["text"]
    follow_up = texts(citizen.say("1"))                  # the first choice, answered by its number
    assert follow_up and "200.000" not in follow_up.split("\n")[0]


def test_zalo_whole_draft_dossier(stack, platforms):
    citizen = ZaloCitizen(stack, platforms)
    done = fill_passport_form(stack, citizen)
    code = find_code(done)[0]
    assert "/dossiers/pdf/" in done and code
    with _db(stack) as db:                              # the summary is stored masked
        stored = "\n".join(t for (t,) in db.execute("SELECT text FROM messages WHERE conversation_id = ?",
                                                   (citizen.conversation_id,)))
    assert "001190012345" not in stored and "0912345678" not in stored


def test_zalo_forged_or_missing_signature_gets_nothing(stack, platforms):
    citizen = ZaloCitizen(stack, platforms)
    event = fake_zalo.event("user_send_text", sender={"id": citizen.user_id}, message={"text": "hộ chiếu"})
    body, headers = fake_zalo.signed_webhook(event, oa_secret_key="not-the-key")
    url = f"{stack.base_url}/channels/zalo/webhook"
    assert httpx.post(url, content=body, headers=headers).status_code == 401
    assert httpx.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
    time.sleep(1)
    with _db(stack) as db:
        assert db.execute("SELECT COUNT(*) FROM inbox WHERE conversation_id = ?",
                          (citizen.conversation_id,)).fetchone()[0] == 0
    assert citizen.received() == []


def test_zalo_duplicate_delivery_is_answered_once(stack, platforms):
    citizen = ZaloCitizen(stack, platforms)
    citizen.say("làm căn cước ở đâu", msg_id="dup-" + citizen.user_id)
    count = len(citizen.received())
    assert citizen.post("làm căn cước ở đâu", msg_id="dup-" + citizen.user_id).status_code == 200
    time.sleep(2)
    assert len(citizen.received()) == count


def test_zalo_expired_token_is_refreshed_and_the_reply_delivered(stack, platforms):
    fake = platforms["zalo"]
    citizen = ZaloCitizen(stack, platforms)
    refreshes = len(fake.refreshes)
    fake.revoke_access()
    assert "200.000" in texts(citizen.say("lệ phí hộ chiếu"))
    assert len(fake.refreshes) == refreshes + 1
    stored = (stack.settings.data_dir / "zalo_tokens.json").read_text()
    assert fake.issued[-1]["refresh_token"] in stored  # the new single-use pair was kept


# --- Telegram -----------------------------------------------------------------------------------

def test_telegram_question_button_press_and_callback_answered(stack, platforms):
    citizen = TelegramCitizen(stack, platforms)
    replies = citizen.say("lam ho chieu can giay to gi")
    assert "TK01" in texts(replies)
    with_keyboard = [c for c in replies if c.param("reply_markup")]
    assert with_keyboard
    keyboard = with_keyboard[-1].param("reply_markup")["inline_keyboard"]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)
    answered = len(platforms["telegram"].calls_to("answerCallbackQuery"))
    pressed = citizen.press(with_keyboard[-1])
    assert texts(pressed)
    assert len(platforms["telegram"].calls_to("answerCallbackQuery")) == answered + 1


def test_telegram_start_greets_with_the_menu(stack, platforms):
    citizen = TelegramCitizen(stack, platforms)
    replies = citizen.say("/start")
    assert any(c.param("reply_markup") for c in replies)
    assert "thủ tục" in texts(replies).lower()


def test_telegram_whole_draft_dossier_with_the_pdf_as_a_document(stack, platforms):
    citizen = TelegramCitizen(stack, platforms)
    done = fill_passport_form(stack, citizen)
    assert find_code(done)
    wait_for(lambda: citizen.received("sendDocument"), what="the PDF")
    filename, content = citizen.received("sendDocument")[-1].files["document"]
    assert content.startswith(b"%PDF") and filename.endswith(".pdf")


def test_telegram_wrong_or_missing_secret_is_403(stack, platforms):
    citizen = TelegramCitizen(stack, platforms)
    update = citizen.text_update("hộ chiếu")
    assert citizen.post(update, secret="wrong").status_code == 403
    assert citizen.post(update, secret=None).status_code == 403
    time.sleep(1)
    assert citizen.received() == []


def test_telegram_duplicate_update_is_processed_once(stack, platforms):
    citizen = TelegramCitizen(stack, platforms)
    update = citizen.text_update("lệ phí làm căn cước", update_id=next(_ids))
    citizen._send(update)
    count = len(citizen.received())
    assert citizen.post(update).status_code == 200
    time.sleep(2)
    assert len(citizen.received()) == count


def test_telegram_down_then_back_every_reply_once_and_in_order(stack, platforms):
    fake = platforms["telegram"]
    citizen = TelegramCitizen(stack, platforms)
    fake.fail_next(times=3, status=500, method="sendMessage")
    for text in ("lệ phí làm hộ chiếu", "làm căn cước ở đâu", "đăng ký tạm trú mất bao lâu"):
        assert citizen.post(citizen.text_update(text)).status_code == 200
    wait_for(lambda: len(citizen.received()) >= 3 and settled(stack, citizen.conversation_id), timeout=90,
             what="all replies after the outage")
    delivered = [c.param("text") for c in citizen.received()]
    failed = [c for c in fake.calls_to("sendMessage") if not c.ok and str(c.param("chat_id")) == str(citizen.chat_id)]
    assert len(failed) == 3
    assert len(delivered) == len(set(delivered))                # each reply once
    order = [next(i for i, t in enumerate(delivered) if marker in t) for marker in ("200.000", "Công an", "tạm trú")]
    assert order == sorted(order)                               # in the order the citizen asked


# --- both -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["zalo", "telegram"])
def test_a_state_change_is_notified_on_the_citizens_channel(stack, platforms, channel):
    citizen = ZaloCitizen(stack, platforms) if channel == "zalo" else TelegramCitizen(stack, platforms)
    citizen.say("lệ phí làm hộ chiếu")                  # the citizen wrote recently (Zalo's window)
    dossier = DossierStore(stack.settings.app_db).create("ho-chieu", citizen.conversation_id, {"full_name": "X"},
                                                         phone="0912345678")
    before = len(citizen.received())
    staff.change_state(stack.settings, dossier.code, "da_nop", actor="canbo:test")   # as the staff CLI does
    wait_for(lambda: len(citizen.received()) > before, what="the notification")
    assert dossier.code in texts(citizen.received()[before:])


def test_rasa_killed_in_the_middle_of_a_telegram_conversation(stack, platforms):
    citizen = TelegramCitizen(stack, platforms)
    assert "200.000" in texts(citizen.say("lệ phí làm hộ chiếu"))
    os.kill(stack.processes["rasa"].pid, signal.SIGKILL)
    update = citizen.text_update("làm căn cước ở đâu")
    assert citizen.post(update).status_code == 200      # acknowledged while Rasa is down
    wait_for(lambda: any("Công an" in (c.param("text") or "") for c in citizen.received()), timeout=240,
             what="the answer once Rasa is back")
    assert stack.wait_ready(("rasa",), timeout=60) is None

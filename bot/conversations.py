"""Routing of one citizen message: check it, store it, ask Rasa, store and return replies.

Every channel (web chat, Telegram, Zalo) calls ``Router.handle``. Nothing here raises to
the citizen: bad input gets a polite Vietnamese answer, and every answer says only what is
true about the message:

- Rasa (or the action server) down or slow → ``BUSY``: the message is stored as ``pending``
  (with the text as typed, erased once sent) and ``retry_pending`` sends it later.
- Rasa up but the turn failed (an action raised) → the message is retried a few times;
  after ``max_attempts`` it is marked ``failed`` (staff see it: ``python -m bot messages
  failed``) and the citizen gets ``FAILED``. A failed message never blocks the others.
- The database refused the write (locked, disk full) → ``NOT_SAVED``: nothing was kept.

Text is normalised once here (``bot.textinput.normalise_input``: NFKC, ASCII digits,
whitespace) before anything else reads it. Typed text never reaches Rasa as an intent
payload (``/intent{...}``): only the payloads of buttons the bot offered in this
conversation do. A button press arrives as its payload (web), as a short key of it
(``channels.base.payload_key``, Telegram), as the payload typed back (Zalo's query
buttons), or as the number of the choice ("2") on clients that show no buttons. With every
message Rasa gets ``metadata.message_id`` (our id), so an action can ignore a retried form
answer it already applied.

Replies are stored in the history with ID and phone numbers masked (the confirmation
summary included) and handed to ``bot.delivery.Delivery`` as they are, for the platform
channels' outbox.

Handover (``bot.handover.desk``): an action asks for a person with a ``custom`` reply
``{"handover": {"reason", "procedure"}}`` (the citizen asked, or the bot did not understand
twice, or a dossier step it cannot do); a citizen who sends the same question twice in a row is
handed over too. The desk's answer (place in the queue, or the call-back offer) replaces the
marker. While a volunteer has the chat, messages are stored and recorded in Rasa's paused tracker
but nothing answers automatically; the desk's own steps (call-back number and question, the rating
after a closed chat) are answered without Rasa.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from starlette.concurrency import run_in_threadpool

from bot import db
from bot.delivery import Delivery
from bot.dossiers.masking import mask_numbers
from bot.rasa_client import RasaClient, RasaError, RasaUnavailable
from bot.store import MessageStore
from bot.textinput import normalise_input
from bot.vntext import fold
from channels.base import payload_key as key_of

log = logging.getLogger(__name__)

BUSY = "Hệ thống đang bận, bạn vui lòng thử lại sau ít phút. Tin nhắn của bạn đã được lưu lại."
RETRYING = ("Xin lỗi, mình chưa trả lời được tin nhắn này ngay. Tin nhắn của bạn đã được lưu, mình sẽ thử lại "
            "và trả lời bạn trong ít phút.")
FAILED = ("Xin lỗi, mình chưa xử lý được tin nhắn này. Bạn thử hỏi lại theo cách khác, ví dụ: \"làm hộ chiếu cần "
          "giấy tờ gì\", hoặc nhắn \"gặp tư vấn viên\" để được người hỗ trợ.")
NOT_SAVED = ("Xin lỗi, hệ thống đang gặp sự cố nên chưa nhận được tin nhắn này (tin nhắn chưa được lưu). "
             "Bạn vui lòng gửi lại sau ít phút.")
EMPTY = "Bạn chưa nhập nội dung. Bạn cần hỏi gì về thủ tục hành chính?"
NO_WORDS = "Mình chỉ hiểu được tin nhắn bằng chữ. Bạn cần hỏi gì về thủ tục hành chính? Ví dụ: \"làm hộ chiếu cần giấy tờ gì\"."
TOO_LONG = ("Tin nhắn của bạn dài quá ({length} ký tự), mình chưa đọc được hết. Bạn vui lòng hỏi ngắn gọn trong "
            "một hai câu, ví dụ: \"làm hộ chiếu cần giấy tờ gì\".")
INVALID_ID = "Mã cuộc trò chuyện không hợp lệ."
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$", re.ASCII)
_HAS_WORD = re.compile(r"[^\W_]", re.UNICODE)
_CHOICE_NUMBER = re.compile(r"^(?:số\s*)?([1-9])[.)]?$", re.IGNORECASE)
MAX_PAYLOAD_CHARS = 500
# Payloads any client may send without the bot offering them first: they carry no entities.
ALWAYS_ALLOWED = {"/greet"}
MAX_TITLE_CHARS = 200
NO_DESK = ("Hiện chưa có tình nguyện viên trực tuyến qua kênh chat này. Bạn có thể đến bộ phận một cửa UBND xã/phường "
           "hoặc Trung tâm Phục vụ hành chính công nơi cư trú, tổ tư vấn của Đoàn Thanh niên sẽ hỗ trợ trực tiếp. "
           "Trong lúc đó mình vẫn có thể trả lời các câu hỏi về thủ tục.")
# Offered after a failed turn (its payload is the request_human intent: the desk queues the chat).
HUMAN_BUTTON = {"title": "Gặp tư vấn viên", "payload": "/request_human"}
REPEAT_MIN_CHARS = 10           # "có", "ok", "1" repeated are not a question asked twice
REPEAT_WITHIN = timedelta(minutes=30)


class InvalidConversation(ValueError):
    """The conversation id is missing or malformed."""


def valid_conversation_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not _CONVERSATION_ID.match(conversation_id):
        raise InvalidConversation(INVALID_ID)
    return conversation_id


def neutralise_typed(text: str) -> str:
    """Typed text as Rasa must read it: a leading "/" would make it an intent payload."""
    return text.lstrip("/").lstrip() if text.startswith("/") else text


@dataclass
class Turn:
    """One citizen message as stored (ID and phone numbers masked) and the replies to it."""

    stored_text: str
    replies: list[dict]


@dataclass(frozen=True)
class _Received:
    """A citizen message stored and to be answered: by Rasa, or by the volunteer who holds the chat."""

    shown: str
    message: str
    message_id: int
    handover: object = None
    repeated: bool = False


class Router:
    def __init__(self, store: MessageStore, rasa: RasaClient, max_chars: int = 2000, max_attempts: int = 3,
                 delivery: Delivery | None = None, desk=None):
        self.store = store
        self.rasa = rasa
        self.max_chars = max_chars
        self.max_attempts = max(1, max_attempts)
        self.delivery = delivery or Delivery(None)
        self.desk = desk      # bot.handover.desk.Desk, or None (no volunteer console)

    async def handle(self, conversation_id: str, text: str | None = None, payload: str | None = None,
                     title: str | None = None, channel: str = "web", payload_key: str | None = None) -> Turn:
        """Process one message; return it as stored and the replies (already stored).

        The citizen's text goes to Rasa as typed (normalised), but is stored with long numbers
        masked (the history shows "0912***678"): the app's history keeps no ID or phone number.
        The database work before and after Rasa runs in the thread pool, off the event loop.
        """
        valid_conversation_id(conversation_id)
        try:
            step = await run_in_threadpool(self._receive, conversation_id, text, payload, title, channel, payload_key)
        except db.ERRORS as error:  # the database failed before the message was stored (a read on the way)
            return self._not_saved(mask_numbers(normalise_input(text if isinstance(text, str) else None)), error)
        if isinstance(step, Turn):
            return step
        if step.handover is not None:
            await self.desk.during_handover(step.handover, step.message_id, step.message, channel)
            return Turn(step.shown, [])
        replies = await self._ask_rasa(conversation_id, step.message_id, step.message, channel, step.repeated)
        return Turn(step.shown, replies)

    def _receive(self, conversation_id: str, text: str | None, payload: str | None, title: str | None,
                 channel: str, payload_key: str | None) -> "Turn | _Received":
        """Everything before Rasa (blocking database work): a finished Turn, or the stored message to send."""
        text = normalise_input(text if isinstance(text, str) else None)
        title = normalise_input(title if isinstance(title, str) else None)[:MAX_TITLE_CHARS]
        payload = payload if isinstance(payload, str) and 0 < len(payload) <= MAX_PAYLOAD_CHARS else None
        if payload is None:
            payload = self._pressed(conversation_id, text, payload_key)
        if payload is not None:
            text, payload = self._button(conversation_id, payload, title)
        if payload is None:
            text = neutralise_typed(text)
        shown = mask_numbers(title if payload else text)
        local = None if payload else self._local_answer(text)
        if local is not None:
            try:
                self.store.add(conversation_id, "in", shown, channel=channel)
            except db.ERRORS as error:
                return self._not_saved(shown, error)
            return Turn(shown, self._reply(conversation_id, [{"text": local, "buttons": []}], channel))
        message = payload or text
        self.delivery.citizen_wrote(conversation_id, channel)
        if self.desk is not None:
            try:
                intercepted = self.desk.intercept(conversation_id, channel, text, payload)
                handover = None if intercepted is not None else self.desk.claimed(conversation_id)
            except db.ERRORS as error:
                return self._not_saved(shown, error)
            if intercepted is not None:
                try:
                    self.store.add(conversation_id, "in", shown, channel=channel, payload=payload)
                except db.ERRORS as error:
                    return self._not_saved(shown, error)
                return Turn(shown, self._reply(conversation_id, intercepted, channel))
            if handover is not None:
                try:
                    message_id = self.store.add(conversation_id, "in", shown, channel=channel, payload=payload)
                except db.ERRORS as error:
                    return self._not_saved(shown, error)
                return _Received(shown, message, message_id, handover=handover)
        repeated = payload is None and self._repeated(conversation_id, shown)
        try:
            message_id = self.store.add(conversation_id, "in", shown, channel=channel, payload=payload,
                                        status="pending", pending_text=None if payload else text)
        except db.ERRORS as error:
            return self._not_saved(shown, error)
        return _Received(shown, message, message_id, repeated=repeated)

    def _repeated(self, conversation_id: str, shown: str) -> bool:
        """Whether the citizen sends the same question as their previous message (not long ago)."""
        folded = fold(shown).strip(" ?.!")
        digits = sum(ch.isdigit() for ch in folded)
        if len(folded) < REPEAT_MIN_CHARS or len(folded.split()) < 3 or digits > 0.3 * len(folded):
            return False   # "có", a date or a number typed again into a form is not a question asked twice
        previous = self.store.last_inbound(conversation_id)
        if previous is None or fold(previous["text"]).strip(" ?.!") != folded:
            return False
        return datetime.now(timezone.utc) - datetime.fromisoformat(previous["created_at"]) <= REPEAT_WITHIN

    def _handover(self, conversation_id: str, channel: str, replies: list[dict], repeated: bool = False) -> list[dict]:
        """Replace an action's handover marker (or add, for a repeated question) the desk's answer."""
        signals = [r["custom"]["handover"] for r in replies
                   if isinstance(r.get("custom"), dict) and isinstance(r["custom"].get("handover"), dict)]
        shown = [r for r in replies if r.get("text") or r.get("buttons")]
        shown = [{"text": r["text"], "buttons": r["buttons"]} for r in shown]
        if not signals and repeated and self.desk is not None and self.desk.store.open_for(conversation_id) is None:
            signals = [{"reason": "repeated"}]
        if not signals:
            return shown
        signal = signals[0]
        if self.desk is None:
            return shown + [{"text": NO_DESK, "buttons": []}]
        procedure = signal.get("procedure") if isinstance(signal.get("procedure"), str) else None
        reason = signal.get("reason") if signal.get("reason") in ("asked", "not_understood", "repeated",
                                                                   "dossier") else "asked"
        try:
            return shown + self.desk.request(conversation_id, channel, reason, procedure)
        except db.ERRORS as error:
            log.error("handover not queued: %s", type(error).__name__)
            return shown + [{"text": NO_DESK, "buttons": []}]

    async def notice(self, conversation_id: str, channel: str, text: str) -> Turn:
        """Answer a platform event the bot does not read (a sticker, a photo) with ``text``."""
        valid_conversation_id(conversation_id)
        return await run_in_threadpool(self._notice, conversation_id, channel, text)

    def _notice(self, conversation_id: str, channel: str, text: str) -> Turn:
        try:
            self.store.add(conversation_id, "in", "[tin nhắn không phải chữ]", channel=channel)
        except db.ERRORS as error:
            return self._not_saved("", error)
        self.delivery.citizen_wrote(conversation_id, channel)
        return Turn("", self._reply(conversation_id, [{"text": text, "buttons": []}], channel))

    def _pressed(self, conversation_id: str, text: str, key: str | None) -> str | None:
        """The payload of an offered button the citizen chose by its key, its payload or its number."""
        if not key and not (text.startswith("/") or _CHOICE_NUMBER.match(text)):
            return None
        if key:
            offered = self.store.offered_payloads(conversation_id)
            return next((p for p in offered if key_of(p) == key), None)
        if text.startswith("/"):
            return text if text in self.store.offered_payloads(conversation_id) else None
        buttons = self.store.last_buttons(conversation_id)
        number = int(_CHOICE_NUMBER.match(text).group(1))
        return buttons[number - 1]["payload"] if number <= len(buttons) else None

    def _button(self, conversation_id: str, payload: str, title: str) -> tuple[str, str | None]:
        """(text, payload) for a button press: the payload only if the bot offered that button here."""
        if not payload.startswith("/"):
            return normalise_input(payload), None  # a button that answers with plain text (e.g. "Nữ")
        if payload in ALWAYS_ALLOWED or payload in self.store.offered_payloads(conversation_id):
            return title or self.store.button_title(conversation_id, payload) or payload, payload
        log.info("payload not offered in this conversation: sent as text")
        return title, None

    def _local_answer(self, text: str) -> str | None:
        """A polite answer for input that should not reach the NLU, or None."""
        if not text:
            return EMPTY
        if len(text) > self.max_chars:
            return TOO_LONG.format(length=len(text))
        if not _HAS_WORD.search(text):
            return NO_WORDS
        return None

    def _not_saved(self, shown: str, error: Exception) -> Turn:
        log.error("message not stored: %s", type(error).__name__)
        return Turn(shown, [{"text": NOT_SAVED, "buttons": []}])

    async def _ask_rasa(self, conversation_id: str, message_id: int, message: str, channel: str,
                        repeated: bool = False) -> list[dict]:
        try:
            replies = await self.rasa.send(conversation_id, message, {"channel": channel, "message_id": message_id})
        except RasaError as error:
            return await run_in_threadpool(self._failed_reply, conversation_id, message_id, error, channel)
        return await run_in_threadpool(self._answered, conversation_id, message_id, replies, channel, repeated)

    def _failed_reply(self, conversation_id: str, message_id: int, error: RasaError, channel: str) -> list[dict]:
        try:
            notice = self._failed_turn(message_id, error)
        except db.ERRORS as store_error:  # the message is kept; its failed turn is not counted
            log.error("failed turn of message %s not counted: %s", message_id, type(store_error).__name__)
            notice = BUSY
        return self._reply(conversation_id, [{"text": notice, "buttons": [HUMAN_BUTTON] if notice == FAILED else []}],
                           channel)

    def _answered(self, conversation_id: str, message_id: int, replies: list[dict], channel: str,
                  repeated: bool = False) -> list[dict]:
        """Rasa answered: the message is done, the replies (with the desk's, for a handover) stored and sent.
        When the database fails here the citizen still gets the answer now (the message stays kept)."""
        try:
            self.store.set_status(message_id, "ok")
        except db.ERRORS as error:
            log.error("answered message %s not marked: %s", message_id, type(error).__name__)
        return self._reply(conversation_id, self._handover(conversation_id, channel, replies, repeated), channel)

    def _failed_turn(self, message_id: int, error: RasaError) -> str:
        """Record a failed attempt; the text to tell the citizen."""
        if isinstance(error, RasaUnavailable) and not error.timed_out:
            log.warning("rasa unavailable for message %s: %s", message_id, error)
            return BUSY
        attempts = self.store.record_failure(message_id, str(error), self.max_attempts)
        log.error("turn failed for message %s (attempt %d/%d): %s", message_id, attempts, self.max_attempts, error)
        if attempts >= self.max_attempts:
            return FAILED
        return BUSY if isinstance(error, RasaUnavailable) else RETRYING

    def _reply(self, conversation_id: str, replies: list[dict], channel: str) -> list[dict]:
        """Store the replies (numbers masked) and hand them to the channel's delivery."""
        try:
            for reply in replies:
                self.store.add(conversation_id, "out", mask_numbers(reply["text"]), channel=channel,
                               buttons=reply["buttons"])
            self.delivery.send(conversation_id, channel, replies)
        except db.ERRORS as error:  # the web citizen still gets the answer now
            log.error("reply not stored: %s", type(error).__name__)
        return replies

    async def retry_pending(self, older_than: float = 30.0) -> int:
        """Send messages kept while Rasa was down or whose turn failed; their replies land in the history.

        Oldest first. A message whose turn fails is counted and skipped (after ``max_attempts``
        it is marked failed and the citizen told); when Rasa is unreachable the round stops,
        since every other message would wait for the same reason. Returns how many were answered.
        """
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=older_than)).isoformat(timespec="microseconds")
        done = 0
        for message in await run_in_threadpool(self.store.pending, cutoff):
            conversation_id, channel = message["conversation_id"], message["channel"]
            text = message["payload"] or message["pending_text"] or message["text"]
            handover = await run_in_threadpool(self.desk.claimed, conversation_id) if self.desk is not None else None
            if handover is not None:   # a volunteer took the chat meanwhile: record it, answer nothing
                await self.desk.during_handover(handover, message["id"], text, channel)
                await run_in_threadpool(self.store.set_status, message["id"], "ok")
                continue
            try:
                replies = await self.rasa.send(conversation_id, text, {"channel": channel, "message_id": message["id"]})
            except RasaError as error:
                notice = await run_in_threadpool(self._failed_turn, message["id"], error)
                if notice == FAILED:
                    await run_in_threadpool(self._reply, conversation_id, [{"text": FAILED, "buttons": [HUMAN_BUTTON]}],
                                            channel)
                if isinstance(error, RasaUnavailable) and not error.timed_out:
                    break
                continue
            await run_in_threadpool(self._answered, conversation_id, message["id"], replies, channel)
            done += 1
        return done

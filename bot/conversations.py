"""Routing of one citizen message: store it, check it, ask Rasa, store and return replies.

Every channel (web chat, Telegram, Zalo) calls ``Router.handle``. Nothing here raises to
the citizen: bad input gets a polite Vietnamese answer and Rasa being down gets
``BUSY``, with the message kept as ``pending`` and retried later by ``retry_pending``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

from dataclasses import dataclass

from bot.dossiers.masking import mask_numbers
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.store import MessageStore

log = logging.getLogger(__name__)

BUSY = "Hệ thống đang bận, bạn vui lòng thử lại sau ít phút. Tin nhắn của bạn đã được lưu lại."
EMPTY = "Bạn chưa nhập nội dung. Bạn cần hỏi gì về thủ tục hành chính?"
NO_WORDS = "Mình chỉ hiểu được tin nhắn bằng chữ. Bạn cần hỏi gì về thủ tục hành chính? Ví dụ: \"làm hộ chiếu cần giấy tờ gì\"."
TOO_LONG = ("Tin nhắn của bạn dài quá ({length} ký tự), mình chưa đọc được hết. Bạn vui lòng hỏi ngắn gọn trong "
            "một hai câu, ví dụ: \"làm hộ chiếu cần giấy tờ gì\".")
INVALID_ID = "Mã cuộc trò chuyện không hợp lệ."
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_HAS_WORD = re.compile(r"[^\W_]", re.UNICODE)


class InvalidConversation(ValueError):
    """The conversation id is missing or malformed."""


def valid_conversation_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not _CONVERSATION_ID.match(conversation_id):
        raise InvalidConversation(INVALID_ID)
    return conversation_id


@dataclass
class Turn:
    """One citizen message as stored (ID and phone numbers masked) and the replies to it."""

    stored_text: str
    replies: list[dict]


class Router:
    def __init__(self, store: MessageStore, rasa: RasaClient, max_chars: int = 2000):
        self.store = store
        self.rasa = rasa
        self.max_chars = max_chars

    async def handle(self, conversation_id: str, text: str | None = None, payload: str | None = None,
                     title: str | None = None, channel: str = "web") -> Turn:
        """Process one message; return it as stored and the replies (already stored).

        The citizen's text goes to Rasa as typed, but is stored with long numbers masked
        (the history shows "0912***678"): the app's database keeps no ID or phone number.
        """
        valid_conversation_id(conversation_id)
        text = (text or "") if isinstance(text, (str, type(None))) else str(text)
        if isinstance(payload, str) and not payload.startswith("/"):
            text, payload = payload, None  # a button that answers with plain text (e.g. "Nữ")
        payload = payload if isinstance(payload, str) and len(payload) <= 500 else None
        shown = mask_numbers((title or "") if payload else text.strip())
        message_id = self.store.add(conversation_id, "in", shown, channel=channel, payload=payload, status="pending")
        local = None if payload else self._local_answer(text)
        if local is not None:
            self.store.set_status(message_id, "ok")
            return Turn(shown, self._reply(conversation_id, [{"text": local, "buttons": []}], channel))
        replies = await self._ask_rasa(conversation_id, message_id, payload or text.strip(), channel)
        return Turn(shown, replies)

    def _local_answer(self, text: str) -> str | None:
        """A polite answer for input that should not reach the NLU, or None."""
        stripped = text.strip()
        if not stripped:
            return EMPTY
        if len(stripped) > self.max_chars:
            return TOO_LONG.format(length=len(stripped))
        if not _HAS_WORD.search(stripped):
            return NO_WORDS
        return None

    async def _ask_rasa(self, conversation_id: str, message_id: int, message: str, channel: str) -> list[dict]:
        try:
            replies = await self.rasa.send(conversation_id, message, {"channel": channel})
        except RasaUnavailable as error:
            log.warning("rasa unavailable for message %s: %s", message_id, error)
            return self._reply(conversation_id, [{"text": BUSY, "buttons": []}], channel)
        self.store.set_status(message_id, "ok")
        return self._reply(conversation_id, replies, channel)

    def _reply(self, conversation_id: str, replies: list[dict], channel: str) -> list[dict]:
        for reply in replies:
            self.store.add(conversation_id, "out", reply["text"], channel=channel, buttons=reply["buttons"])
        return replies

    async def retry_pending(self, older_than: float = 30.0) -> int:
        """Send messages kept while Rasa was down; their replies land in the history.

        (A kept message is sent as stored, so a number typed in it arrives masked.)
        """
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=older_than)).isoformat(timespec="microseconds")
        done = 0
        for message in self.store.pending(before=cutoff):
            text = message["payload"] or message["text"]
            try:
                replies = await self.rasa.send(message["conversation_id"], text, {"channel": message["channel"]})
            except RasaUnavailable:
                break
            self.store.set_status(message["id"], "ok")
            self._reply(message["conversation_id"], replies, message["channel"])
            done += 1
        return done

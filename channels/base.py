"""The one interface every chat channel implements (web chat, Telegram, Zalo).

A channel does two things and nothing else:

- ``parse_webhook(headers, body)``: check that a webhook call really comes from the
  platform (signature / secret; ``WebhookRejected`` otherwise) and turn its event into
  zero or more ``Inbound`` messages (normalised: channel, platform user id, text or button
  payload, platform message id, time).
- ``send(user_id, message)``: deliver one ``Outbound`` (text, buttons, a document link)
  to a user. It raises ``RetryLater`` for what may work later (network error, 5xx, a
  rate limit, with ``retry_after`` when the platform says), ``OutsideWindow`` when the
  platform refuses to message this user now (Zalo after its free window: keep the
  message until the citizen writes again), and ``SendFailed`` for what will never work.

Everything else — deduplication, the durable inbound queue, the dialogue (``Router``), the
outbox with retries and ordering — is shared and lives in the bot app (``bot/outbox.py``,
``bot/inbox.py``), so a channel module stays a thin, separately tested platform client.
Conversation id for a platform channel: ``<channel>:<platform user id>``.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import ClassVar, Mapping, Optional

__all__ = ["Channel", "Inbound", "Outbound", "WebhookRejected", "ChannelError", "RetryLater", "OutsideWindow",
           "SendFailed", "conversation_id", "split_text", "payload_key"]


def conversation_id(channel: str, user_id: str) -> str:
    return f"{channel}:{user_id}"


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen, as every channel reports it."""

    channel: str
    user_id: str
    message_id: str                      # the platform's id of this event: deliveries are deduplicated on it
    text: Optional[str] = None           # what the citizen typed
    payload: Optional[str] = None        # a button the citizen pressed (the payload we gave it)
    title: Optional[str] = None          # that button's title, shown in the history
    at: Optional[dt.datetime] = None
    notice: Optional[str] = None         # answer this instead of asking the bot (e.g. a sticker: "mình chỉ đọc chữ")
    callback_id: Optional[str] = None    # Telegram: the callback query to answer
    payload_key: Optional[str] = None    # a button pressed, by ``payload_key(payload)`` (Telegram's 64-byte limit)

    @property
    def conversation_id(self) -> str:
        return conversation_id(self.channel, self.user_id)


@dataclass(frozen=True)
class Outbound:
    """One reply to a citizen."""

    text: str
    buttons: list[dict] = field(default_factory=list)   # [{"title", "payload"}]
    document_url: Optional[str] = None                  # e.g. the signed link of a dossier PDF
    document_name: Optional[str] = None                 # "HS-2026-7KQ4M9.pdf"

    @classmethod
    def from_reply(cls, reply: Mapping) -> "Outbound":
        document = reply.get("document") or {}
        return cls(text=reply.get("text") or "", buttons=list(reply.get("buttons") or []),
                   document_url=document.get("url"), document_name=document.get("name"))

    def as_reply(self) -> dict:
        reply: dict = {"text": self.text, "buttons": self.buttons}
        if self.document_url:
            reply["document"] = {"url": self.document_url, "name": self.document_name}
        return reply


class WebhookRejected(Exception):
    """The webhook call is not genuine (bad or missing signature / secret) or malformed."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class ChannelError(Exception):
    """Sending to the platform failed."""


class RetryLater(ChannelError):
    def __init__(self, reason: str, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.retry_after = retry_after


class OutsideWindow(ChannelError):
    """The platform does not let us message this user now; deliver when they next write."""


class SendFailed(ChannelError):
    """Will never be delivered (blocked the bot, unknown user, a malformed message)."""


class Channel(abc.ABC):
    name: ClassVar[str]

    @property
    def webhook_path(self) -> str:
        return f"/channels/{self.name}/webhook"

    async def start(self) -> None:
        """Open clients (called once in the app's lifespan)."""

    async def stop(self) -> None:
        """Close clients."""

    @abc.abstractmethod
    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Inbound]:
        """The messages in a webhook call; ``WebhookRejected`` unless it is genuine."""

    @abc.abstractmethod
    async def send(self, user_id: str, message: Outbound) -> None:
        """Deliver one message; ``RetryLater`` / ``OutsideWindow`` / ``SendFailed`` on failure."""

    async def acknowledge(self, inbound: Inbound) -> None:
        """Platform bookkeeping after an inbound message was queued (Telegram: answerCallbackQuery)."""


def payload_key(payload: str) -> str:
    """A short stable key for a button payload (17 ASCII bytes), for platforms that limit what a
    button carries; the app resolves it against the buttons it offered in that conversation."""
    return "k" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line breaks where possible
    (then at spaces, then anywhere); no piece is empty."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces or [""]

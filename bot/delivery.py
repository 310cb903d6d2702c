"""Where a reply goes after it is stored in the history: one place for every channel.

- ``web``: nowhere else — the history *is* the web chat's delivery (the page reads it and is
  pushed new messages by ``GET /api/conversations/{id}/events``).
- ``telegram``, ``zalo``: the durable outbox (``bot/outbox.py``), sent by its worker.

Used by the Router (replies) and by ``bot/staff.py`` (state-change notifications), from the
app or from the staff CLI (another process: the app's outbox worker picks the rows up).
"""

from __future__ import annotations

import logging
import re
from typing import Callable, Iterable, Mapping, Optional

from bot.outbox import Outbox

__all__ = ["Delivery", "WEB"]

log = logging.getLogger(__name__)
WEB = "web"
# A dossier PDF link in a reply (``/dossiers/pdf/<signed token>``, the code before the first dot).
_PDF_LINK = re.compile(r"https?://\S+/dossiers/pdf/(HS-[A-Za-z0-9-]+)\.[A-Za-z0-9._~-]+")


def with_document(reply: Mapping) -> dict:
    """The reply, with ``document`` set when its text carries a dossier PDF link (Telegram sends the file)."""
    reply = dict(reply)
    match = _PDF_LINK.search(reply.get("text") or "")
    if match and not reply.get("document"):
        reply["document"] = {"url": match.group(0), "name": f"{match.group(1)}.pdf"}
    return reply


class Delivery:
    def __init__(self, outbox: Optional[Outbox], wake: Callable[[], None] = lambda: None):
        self.outbox = outbox
        self._wake = wake

    def send(self, conversation_id: str, channel: str, replies: Iterable[Mapping]) -> None:
        """Queue ``replies`` (clear text, as the citizen must read them) for a platform channel."""
        replies = [with_document(reply) for reply in replies]
        if channel == WEB or not replies or self.outbox is None:
            return
        _, _, user_id = conversation_id.partition(":")
        if not user_id:
            log.error("no platform user in a %s conversation id", channel)
            return
        self.outbox.enqueue(conversation_id, channel, user_id, replies)
        self._wake()

    def citizen_wrote(self, conversation_id: str, channel: str) -> None:
        """Messages held outside the platform's window can go now."""
        if channel != WEB and self.outbox is not None and self.outbox.release(conversation_id):
            self._wake()

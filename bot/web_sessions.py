"""Web chat conversations bound to their owner.

The server issues every web conversation: ``POST /api/conversations`` answers a new
``conversation_id`` ("web-" + 16 random URL-safe characters) and a ``token`` — its
signature (itsdangerous, key derived from BOT_SECRET). Every later request about that
conversation (send, history, live events) carries the token in header
``X-Conversation-Token``; without the right one the server answers 403 and stores nothing.
The page keeps the pair in its own localStorage (the embeddable widget runs in an iframe of
this origin), so no cookie is involved and a cross-site page cannot send the header (no
CSRF). Ids of the platform channels (``telegram:…``, ``zalo:…``) never pass: their
conversations are reached only through the platforms' verified webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from itsdangerous import Signer

__all__ = ["WebSessions", "HEADER"]

HEADER = "X-Conversation-Token"
_WEB_ID = re.compile(r"^web-[A-Za-z0-9_-]{16,64}$", re.ASCII)


class WebSessions:
    def __init__(self, secret: str):
        self._signer = Signer(secret, salt="web-conversation", digest_method=hashlib.sha256)

    def issue(self) -> tuple[str, str]:
        """A new conversation id and its token."""
        conversation_id = "web-" + secrets.token_urlsafe(12)
        return conversation_id, self.token(conversation_id)

    def token(self, conversation_id: str) -> str:
        return self._signer.get_signature(conversation_id).decode("ascii")

    def allowed(self, conversation_id: object, token: object) -> bool:
        """Whether ``token`` is the one issued for ``conversation_id`` (a web conversation)."""
        if not (isinstance(conversation_id, str) and _WEB_ID.match(conversation_id)):
            return False
        if not (isinstance(token, str) and token.isascii() and 0 < len(token) <= 200):
            return False
        # The exact token issued, compared in constant time: base64 decoding would also accept the
        # same signature with other padding bits in its last character (e.g. "…B" for "…A").
        return hmac.compare_digest(token, self.token(conversation_id))


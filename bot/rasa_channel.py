"""Rasa's REST channel, guarded, quiet about what citizens write, and without splitting replies.

- **Token**: ``POST /webhooks/rest/webhook`` answers 401 unless the request carries
  ``Authorization: Bearer <RASA_TOKEN>`` (env ``RASA_TOKEN``, set by ``bot.processes``; the
  bot app sends it). Compared in constant time, on bytes. Without ``RASA_TOKEN`` every
  request is refused (fail closed). ``GET /webhooks/rest/`` (a bare "ok") stays open.
- **Logs**: stock ``RestInput`` logs the message text when a turn fails. Here a failed
  turn logs only the exception type and the conversation id, and answers 500 (the bot app
  then retries or tells the citizen); the text is never logged.
- **Replies**: stock ``CollectingOutputChannel.send_text_message`` cuts a text at every
  "\\n\\n" into separate messages, which breaks our answers (a checklist, a summary) into
  pieces. This channel keeps each reply whole.
- Streaming (``?stream=true``) is not offered: the bot app does not use it.

Loaded by Rasa from credentials.yml; keeps the stock path ``/webhooks/rest/webhook``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)


def header_matches(value: str | None, expected: bytes) -> bool:
    """``value`` (a header as Sanic decoded it) equals ``expected``, compared in constant time on
    bytes; any value that cannot be encoded back (non-ASCII junk) simply does not match."""
    if value is None or not expected:
        return False
    try:
        given = value.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return False
    return hmac.compare_digest(given, expected)


class UnsplitCollectingOutputChannel(CollectingOutputChannel):
    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


class UnsplitRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    @staticmethod
    def expected_authorization() -> bytes:
        token = os.environ.get("RASA_TOKEN", "")
        return f"Bearer {token}".encode() if token else b""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        expected = self.expected_authorization()
        if not expected:
            logger.warning("RASA_TOKEN is not set: the REST channel refuses every message")
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", type(self).__module__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not header_matches(request.headers.get("authorization"), expected):
                return response.json({"error": "unauthorized"}, status=401)
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("sender"), str) \
                    or not isinstance(body.get("message"), (str, type(None))):
                return response.json({"error": "expected {\"sender\": str, \"message\": str}"}, status=400)
            sender_id = body["sender"]
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            collector = UnsplitCollectingOutputChannel()
            message = UserMessage(body["message"], collector, sender_id,
                                  input_channel=self._extract_input_channel(request), metadata=metadata)
            try:
                await on_new_message(message)
            except asyncio.CancelledError:
                logger.warning("REST turn cancelled (conversation %s)", sender_id[:64])
                raise
            except Exception as error:
                logger.error("REST turn failed with %s (conversation %s)", type(error).__name__, sender_id[:64])
                return response.json({"error": "turn failed"}, status=500)
            return response.json(collector.messages)

        return webhook

"""Rasa's REST channel, without splitting replies at blank lines.

Stock ``CollectingOutputChannel.send_text_message`` cuts a text at every "\\n\\n" into
separate messages, which breaks our answers (a checklist, a summary) into pieces.
This input channel keeps each reply whole. It is loaded by Rasa from credentials.yml
and keeps the stock path ``/webhooks/rest/webhook``.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput


class UnsplitRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]):
        async def handle(message: UserMessage) -> None:
            collector = message.output_channel

            async def send_text_message(recipient_id: Text, text: Text, **kwargs: Any) -> None:
                await collector._persist_message(collector._message(recipient_id, text=text.strip()))

            collector.send_text_message = send_text_message
            await on_new_message(message)

        return super().blueprint(handle)

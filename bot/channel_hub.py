"""The platform channels inside the bot app: which are on, their webhooks, their queues.

``ChannelHub.from_settings`` builds every channel whose credentials are set
(``channels.telegram.TelegramChannel``, ``channels.zalo.ZaloChannel``; a channel without
its credentials is off and its webhook answers 404). For each webhook call:

    platform ──POST /channels/<name>/webhook──► verify (signature / secret) ──► inbox (deduplicated,
    committed) ──► 200 at once ··· InboxWorker ──► Router.handle ──► history + outbox ··· OutboxWorker ──► platform

so an event acknowledged is never lost (Rasa down: the Router keeps it pending and answers
later), and every reply is sent once, in order (``bot/outbox.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Optional

from starlette.requests import Request
from starlette.responses import JSONResponse

from bot import staff
from bot.conversations import Router
from bot.delivery import Delivery
from bot.dossiers import ExpiredToken, InvalidToken, check_pdf_token
from bot.inbox import Inbox, InboxWorker
from bot.outbox import Outbox, OutboxWorker
from bot.settings import Settings
from bot.store import MessageStore
from channels.base import Channel, WebhookRejected

__all__ = ["ChannelHub"]

log = logging.getLogger(__name__)
CHANNEL_OFF = "Kênh này chưa được bật."
_PDF_PATH = re.compile(r"/dossiers/pdf/([A-Za-z0-9._~-]+)")


def _build_channels(config: Settings, fetch_document) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    try:
        from channels.telegram import TelegramChannel
    except ImportError:  # pragma: no cover — the module ships with the app
        TelegramChannel = None
    try:
        from channels.zalo import ZaloChannel
    except ImportError:  # pragma: no cover
        ZaloChannel = None
    if TelegramChannel is not None and (telegram := TelegramChannel.from_settings(config, fetch_document)):
        channels["telegram"] = telegram
    if ZaloChannel is not None and (zalo := ZaloChannel.from_settings(config)):
        channels["zalo"] = zalo
    return channels


class ChannelHub:
    def __init__(self, config: Settings, store: MessageStore, channels: Optional[dict[str, Channel]] = None):
        self.config = config
        self.store = store
        self.outbox = Outbox(config.app_database)
        self.inbox = Inbox(config.app_database)
        self.channels = channels if channels is not None else _build_channels(config, self.fetch_document)
        self.outbox_worker = OutboxWorker(self.outbox, self.channels, last_inbound=store.last_inbound_at)
        self.delivery = Delivery(self.outbox, wake=self.outbox_worker.wake)
        self.router: Optional[Router] = None
        self.inbox_worker = InboxWorker(self.inbox, self._handle)
        self._tasks: list[asyncio.Task] = []

    async def start(self, router: Router) -> None:
        self.router = router
        for name, channel in list(self.channels.items()):
            try:
                await channel.start()
            except Exception as error:  # noqa: BLE001 — one platform down must not stop the app
                log.error("channel %s did not start: %s; its messages wait in the outbox", name, type(error).__name__)
        log.info("channels on: web%s", "".join(f", {name}" for name in self.channels))
        self._tasks = [asyncio.create_task(self.inbox_worker.run()), asyncio.create_task(self.outbox_worker.run())]
        if self.config.telegram_mode == "polling" and "telegram" in self.channels:
            self._tasks.append(asyncio.create_task(self._poll_telegram()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.stop()
        with contextlib.suppress(Exception):   # what this process claimed and did not finish: free at once
            await asyncio.to_thread(self.inbox.release)

    async def webhook(self, request: Request) -> JSONResponse:
        """``POST /channels/{name}/webhook``: verify, queue durably, answer at once."""
        channel = self.channels.get(request.path_params["name"])
        if channel is None:
            return JSONResponse({"error": CHANNEL_OFF}, status_code=404)
        body = await request.body()
        try:
            inbounds = await channel.parse_webhook(request.headers, body)
        except WebhookRejected as error:
            log.warning("%s webhook rejected (%s)", channel.name, error.status)
            return JSONResponse({"error": "Yêu cầu không hợp lệ."}, status_code=error.status)
        for inbound in inbounds:
            if await asyncio.to_thread(self.inbox.accept, inbound):
                with contextlib.suppress(Exception):
                    await channel.acknowledge(inbound)
        if inbounds:
            self.inbox_worker.wake()
        return JSONResponse({"ok": True})

    async def _handle(self, row: dict) -> None:
        assert self.router is not None
        if row["notice"]:
            await self.router.notice(row["conversation_id"], row["channel"], row["notice"])
            return
        await self.router.handle(row["conversation_id"], text=row["text"], payload=row["payload"],
                                 title=row["title"], channel=row["channel"], payload_key=row["payload_key"])

    async def _poll_telegram(self) -> None:
        """Development only (TELEGRAM_MODE=polling): getUpdates into the same inbox."""
        channel = self.channels["telegram"]
        while True:
            try:
                for inbound in await channel.poll_once(timeout=20):
                    if await asyncio.to_thread(self.inbox.accept, inbound):
                        await channel.acknowledge(inbound)
                self.inbox_worker.wake()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001
                log.warning("telegram polling: %s", type(error).__name__)
                await asyncio.sleep(5)

    async def fetch_document(self, url: str) -> Optional[bytes]:
        """The PDF behind one of our signed links (so Telegram gets the file, not a localhost link)."""
        match = _PDF_PATH.search(url or "")
        if not match:
            return None
        try:
            code = check_pdf_token(match.group(1), self.config.secret())
        except (InvalidToken, ExpiredToken):
            return None
        return await asyncio.to_thread(staff.dossier_pdf, self.config, code)

"""Telegram channel: the Bot API through python-telegram-bot 22 (``telegram.Bot``).

- Webhook (production): Telegram POSTs each update to ``/channels/telegram/webhook`` with
  ``X-Telegram-Bot-Api-Secret-Token``; ``parse_webhook`` checks it and maps the update to
  ``Inbound``. Register the URL once with ``set_webhook`` (``python -m bot telegram set-webhook``).
- Polling (development only, no public URL): the app's loop calls ``poll_once``
  (``getUpdates``; the offset is kept in memory, so after a restart Telegram delivers the
  unconfirmed updates again and the inbox deduplicates them on ``update_id``). Polling and a
  webhook exclude each other: ``delete_webhook`` first.

Decisions:

- A plain ``telegram.Bot``, not PTB's ``Application``: the Application's parts (handlers,
  update queue, job queue, persistence, updater) would duplicate the bot app's inbox,
  router and outbox, and ``Application.initialize()`` only calls ``Bot.initialize()``
  (``getMe``) here. A plain ``Bot`` has no rate limiter and makes no retries, so a 429 or
  a 5xx reaches the outbox, which owns retries and backoff.
- No parse mode: messages go out as plain text (what the web chat shows), so nothing needs
  escaping and a stray ``<`` or ``*`` can never make Telegram refuse a message.
- Buttons carry ``payload_key(payload)`` (17 bytes) as ``callback_data`` (limit 64 bytes);
  the app resolves the key against the buttons it offered in that conversation.
- Only private chats are served: in a group every member would share one conversation
  (and see each other's dossier data).
- Logs never carry message text, chat ids or the token: PTB's debug records (which print
  every request's parameters) are dropped, and the token is cut out of httpx's request lines.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import logging
import re
import warnings
from typing import Awaitable, Callable, Mapping, Optional

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import MessageLimit
from telegram.error import (BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter,
                            TelegramError)
from telegram.request import BaseRequest, HTTPXRequest

from channels.base import (Channel, ChannelError, Inbound, Outbound, RetryLater, SendFailed, WebhookRejected,
                           payload_key, split_text)

__all__ = ["TelegramChannel", "ALLOWED_UPDATES", "GREETING", "TEXT_ONLY", "SECRET_HEADER"]

log = logging.getLogger(__name__)

FetchDocument = Callable[[str], Awaitable[Optional[bytes]]]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
GREETING = "Xin chào"   # what /start becomes: the NLU greets with the guided menu
TEXT_ONLY = ("Mình chỉ đọc được tin nhắn bằng chữ, chưa xem được hình ảnh, nhãn dán, tin nhắn thoại hay tệp đính "
             "kèm. Bạn vui lòng gõ câu hỏi, ví dụ: \"làm hộ chiếu cần giấy tờ gì\".")
CHOOSE = "Bạn chọn một mục bên dưới:"   # Telegram refuses buttons without text
DOCUMENT_LINK = "Tải tệp {name}: {url}"
_START = re.compile(r"^/start(?:@\w+)?(?:\s|$)", re.ASCII)
_MAX_PENDING_PROGRESS = 1000


class TelegramChannel(Channel):
    name = "telegram"

    def __init__(self, token: str, webhook_secret: Optional[str], api_url: str = "https://api.telegram.org",
                 fetch_document: Optional[FetchDocument] = None, request: Optional[BaseRequest] = None):
        api = api_url.rstrip("/")
        self._secret = webhook_secret.encode() if webhook_secret else None
        self._fetch_document = fetch_document
        # One pool for sends (the outbox sends conversations in parallel), another for the
        # long poll so it never holds the connection a send needs. Tests inject ``request``.
        self.bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                       request=request or HTTPXRequest(connection_pool_size=16),
                       get_updates_request=request or HTTPXRequest(connection_pool_size=1))
        self._offset: Optional[int] = None
        # Pieces of a multi-part message already delivered when a later piece failed, so the
        # outbox's retry of that message does not send them twice (in memory: best effort).
        self._progress: collections.OrderedDict[str, int] = collections.OrderedDict()
        _hide_private_logs()

    @classmethod
    def from_settings(cls, config, fetch_document: Optional[FetchDocument] = None) -> Optional["TelegramChannel"]:
        """The channel, or None (Telegram off) without a token, or in webhook mode without a secret."""
        if not config.telegram_bot_token:
            return None
        if config.telegram_mode != "polling" and not config.telegram_webhook_secret:
            log.warning("TELEGRAM_BOT_TOKEN is set but TELEGRAM_WEBHOOK_SECRET is not: Telegram is off")
            return None
        return cls(config.telegram_bot_token, config.telegram_webhook_secret, config.telegram_api_url,
                   fetch_document=fetch_document)

    # -- lifespan ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP clients and check the token (``getMe``)."""
        try:
            await self.bot.initialize()
        except InvalidToken:
            # PTB's own message quotes the token: say it without.
            raise ChannelError("Telegram rejected TELEGRAM_BOT_TOKEN (getMe answered 401/404)") from None
        log.info("Telegram bot @%s ready", self.bot.username)

    async def stop(self) -> None:
        await self.bot.shutdown()

    # -- inbound ----------------------------------------------------------------------------

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Inbound]:
        given = _header(headers, SECRET_HEADER)
        if self._secret is None or given is None or not hmac.compare_digest(given.encode(), self._secret):
            raise WebhookRejected(403, "missing or wrong Telegram secret token")
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookRejected(400, "a Telegram update must be JSON") from None
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            raise WebhookRejected(400, "a Telegram update must be an object with an integer update_id")
        try:   # PTB validates little: a wrong shape surfaces as any exception
            return self._inbound(Update.de_json(data, self.bot))
        except Exception as error:
            raise WebhookRejected(400, f"malformed Telegram update ({type(error).__name__})") from None

    def _inbound(self, update: Update) -> list[Inbound]:
        if update.message is not None:
            return _from_message(update.update_id, update.message)
        if update.callback_query is not None:
            return _from_callback(update)
        return []   # edited messages, channel posts, member updates...: nothing to answer

    async def acknowledge(self, inbound: Inbound) -> None:
        """Answer the callback query, so the pressed button stops spinning."""
        if not inbound.callback_id:
            return
        try:
            await self.bot.answer_callback_query(inbound.callback_id)
        except TelegramError as error:   # cosmetic: the message itself is already queued
            log.warning("answerCallbackQuery failed: %s", _reason(error))

    async def poll_once(self, timeout: float = 25) -> list[Inbound]:
        """One ``getUpdates`` long poll (development only); confirms the previous batch."""
        try:
            updates = await self.bot.get_updates(offset=self._offset, timeout=int(timeout),
                                                 allowed_updates=ALLOWED_UPDATES)
        except TelegramError as error:
            raise _channel_error(error) from None
        inbound: list[Inbound] = []
        for update in updates:
            self._offset = max(self._offset or 0, update.update_id + 1)
            inbound.extend(self._inbound(update))
        return inbound

    # -- outbound ---------------------------------------------------------------------------

    async def send(self, user_id: str, message: Outbound) -> None:
        document = await self._document(message)
        text = message.text.strip()
        if message.document_url and document is None:
            link = DOCUMENT_LINK.format(name=message.document_name or "", url=message.document_url)
            text = f"{text}\n\n{link}" if text else link
        markup = _keyboard(message.buttons)
        if not text and markup and document is None:
            text = CHOOSE
        pieces = split_text(text, MessageLimit.MAX_TEXT_LENGTH) if text else []
        steps = [self._text_step(user_id, piece, markup if i == len(pieces) - 1 else None)
                 for i, piece in enumerate(pieces)]
        if document is not None:
            steps.append(self._document_step(user_id, document, message.document_name,
                                             None if pieces else markup))
        await self._run(_progress_key(user_id, message), steps)

    def _text_step(self, chat_id: str, text: str, markup: Optional[InlineKeyboardMarkup]):
        return lambda: self.bot.send_message(chat_id, text, reply_markup=markup)

    def _document_step(self, chat_id: str, data: bytes, name: Optional[str], markup: Optional[InlineKeyboardMarkup]):
        return lambda: self.bot.send_document(chat_id, InputFile(data, filename=name or "ho-so.pdf"),
                                              reply_markup=markup)

    async def _run(self, key: str, steps: list) -> None:
        """Send the pieces in order, skipping those a failed earlier attempt already delivered."""
        done = self._progress.pop(key, 0)
        for index in range(done, len(steps)):
            try:
                await steps[index]()
            except TelegramError as error:
                if index:
                    self._remember(key, index)
                raise _channel_error(error) from None

    def _remember(self, key: str, done: int) -> None:
        self._progress[key] = done
        while len(self._progress) > _MAX_PENDING_PROGRESS:
            self._progress.popitem(last=False)

    async def _document(self, message: Outbound) -> Optional[bytes]:
        if not message.document_url or self._fetch_document is None:
            return None
        try:
            return await self._fetch_document(message.document_url)
        except Exception as error:   # the link still reaches the citizen as text
            log.warning("fetching a document for Telegram failed (%s): sending the link", type(error).__name__)
            return None

    # -- webhook registration (CLI) -----------------------------------------------------------

    async def set_webhook(self, url: str) -> bool:
        """Point Telegram at ``url`` (``https://<host>/channels/telegram/webhook``) with our secret."""
        if self._secret is None:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required to register a webhook")
        try:
            return await self.bot.set_webhook(url, secret_token=self._secret.decode(),
                                              allowed_updates=ALLOWED_UPDATES)
        except TelegramError as error:
            raise _channel_error(error) from None

    async def delete_webhook(self, drop_pending_updates: bool = False) -> bool:
        try:
            return await self.bot.delete_webhook(drop_pending_updates=drop_pending_updates)
        except TelegramError as error:
            raise _channel_error(error) from None


# -- mapping updates ---------------------------------------------------------------------------

def _from_message(update_id: int, message: Message) -> list[Inbound]:
    if message.chat.type != "private":
        return []
    base = dict(channel=TelegramChannel.name, user_id=str(message.chat.id), message_id=str(update_id),
                at=message.date)
    if message.text is not None:
        text = GREETING if _START.match(message.text) else message.text
        return [Inbound(text=text, **base)]
    if message.effective_attachment is not None or message.location is not None:
        return [Inbound(notice=TEXT_ONLY, **base)]
    return []   # service messages (pinned, chat photo changed, ...)


def _from_callback(update: Update) -> list[Inbound]:
    query = update.callback_query
    chat = query.message.chat if query.message is not None else None
    if not query.data or (chat is not None and chat.type != "private"):
        return []
    user_id = str(chat.id if chat is not None else query.from_user.id)
    return [Inbound(channel=TelegramChannel.name, user_id=user_id, message_id=str(update.update_id),
                    payload_key=query.data, title=_button_title(query.message, query.data),
                    callback_id=query.id)]


def _button_title(message, data: str) -> Optional[str]:
    """The text of the pressed button, from the keyboard of the message it belongs to."""
    markup = getattr(message, "reply_markup", None)   # an InaccessibleMessage (> 48 h old) has none
    for row in (markup.inline_keyboard if markup else ()):
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _keyboard(buttons: list[dict]) -> Optional[InlineKeyboardMarkup]:
    rows = []
    for button in buttons:
        title = button.get("title") or button.get("payload") or ""
        if button.get("payload"):
            rows.append([InlineKeyboardButton(title, callback_data=payload_key(button["payload"]))])
        elif button.get("url"):
            rows.append([InlineKeyboardButton(title, url=button["url"])])
    return InlineKeyboardMarkup(rows) if rows else None


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    value = headers.get(name)
    if value is None:   # a plain dict: look case-insensitively
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _progress_key(chat_id: str, message: Outbound) -> str:
    raw = json.dumps([chat_id, message.as_reply()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


# -- errors ------------------------------------------------------------------------------------

def _channel_error(error: TelegramError) -> ChannelError:
    """Telegram's failure as the outbox understands it (checked in this order: BadRequest is a
    NetworkError in PTB)."""
    if isinstance(error, RetryAfter):
        return RetryLater("Telegram rate limit (429)", retry_after=_retry_after_seconds(error))
    if isinstance(error, (BadRequest, Forbidden, ChatMigrated)):
        return SendFailed(f"Telegram refused: {_reason(error)}")
    if isinstance(error, InvalidToken):   # a revoked token: fixable by the operator, keep the message
        log.error("Telegram rejected the bot token")
        return RetryLater("Telegram rejected the bot token")
    if isinstance(error, NetworkError):   # includes TimedOut and every 5xx
        return RetryLater(f"Telegram unreachable: {_reason(error)}")
    return RetryLater(f"Telegram error: {_reason(error)}")


def _retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():   # PTB 22.2+ warns that it will become a timedelta
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


_BOT_PATH = re.compile(r"/bot[^/\s]+/")


def _reason(error: TelegramError) -> str:
    return _BOT_PATH.sub("/bot<token>/", error.message)[:150]


class _PrivateLogs(logging.Filter):
    """Keep text, chat ids and the token out of the logs of httpx and PTB."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "httpx":
            message = _BOT_PATH.sub("/bot<token>/", record.getMessage())
            record.msg, record.args = message, ()
            return True
        if record.levelno <= logging.DEBUG:   # "Calling Bot API endpoint ... with parameters {...}"
            return False
        if record.args:   # e.g. "Can not load invalid JSON data: %s" (an answer may quote a message)
            record.msg, record.args = f"{record.msg} [details hidden]", ()
        return True


_FILTER = _PrivateLogs()


def _hide_private_logs() -> None:
    for name in ("httpx", "telegram.Bot", "telegram.BaseRequest", "telegram.HTTPXRequest"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

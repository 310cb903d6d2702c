"""Zalo Official Account channel: an SDK-style OpenAPI client, its token store, and the channel.

- ``ZaloTokenStore`` keeps the current access/refresh token pair durably in a small JSON file
  in BOT_DATA_DIR (mode 0600, written to a temporary file, fsynced, then ``os.replace``d: a
  reader sees the old pair or the new one, never half of one).
- ``ZaloOAClient`` sends customer-service messages (``POST {api}/v3.0/oa/message/cs``) and
  refreshes the token pair (``POST {oauth}/v4/oa/access_token``). Zalo answers HTTP 200 even
  on failure: the ``error`` field decides, never the status code.
- ``ZaloChannel`` verifies webhooks (``X-ZEvent-Signature``), turns events into ``Inbound``
  messages and delivers ``Outbound`` ones.

Nothing here logs message text, tokens or clear user ids (``_anon`` gives a short hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping, Optional

import httpx

from channels.base import (Channel, Inbound, Outbound, OutsideWindow, RetryLater, SendFailed, WebhookRejected,
                           payload_key, split_text)

try:  # POSIX: serialise refreshes between processes sharing one token file
    import fcntl
except ImportError:  # pragma: no cover — not on POSIX: the asyncio lock alone serialises one process
    fcntl = None  # type: ignore[assignment]

__all__ = ["ZaloTokenStore", "ZaloOAClient", "ZaloChannel", "ZaloAPIError", "sign_body", "MAX_TEXT_CHARS",
           "MAX_BUTTONS", "BUTTON_HINT", "TOKEN_FILE"]

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000          # Zalo's limit for one text message, counted after NFC normalisation
MAX_BUTTONS = 5                # Zalo shows at most 5 buttons on a message
MAX_TITLE_CHARS = 100          # keep button titles short: longer ones are cut
MAX_BUTTON_PAYLOAD_CHARS = 1000  # an oa.query.* payload is a string of at most 1,000 characters
EXPIRY_MARGIN_SECONDS = 60     # refresh this long before the stored expiry (clock skew, request time)
DEFAULT_RETRY_AFTER = 60.0     # seconds, when Zalo rate-limits (-32) and says nothing more
TOKEN_FILE = "zalo_tokens.json"
BUTTON_HINT = "Bạn có thể bấm nút hoặc trả lời bằng số."
DOCUMENT_LABEL = "Tờ khai PDF"

TOKEN_ERRORS = {-216, -220}    # access token invalid / expired or removed: refresh once, retry once
RATE_LIMITED = -32
NOT_INTERACTED = -230          # the user has not interacted with the OA for 7 days

# What a citizen sent that the bot cannot read, as named in the polite note it gets back.
MEDIA_NAMES = {
    "image": "hình ảnh",
    "gif": "ảnh GIF",
    "sticker": "nhãn dán",
    "audio": "tin nhắn thoại",
    "video": "video",
    "file": "tệp đính kèm",
    "link": "đường liên kết",
    "location": "vị trí",
    "business_card": "danh thiếp",
}
NOTICE = ("Cảm ơn bạn đã gửi {what}. Hiện mình chỉ đọc được tin nhắn chữ. Bạn vui lòng gõ câu hỏi, "
          "ví dụ: “Đăng ký khai sinh cần những giấy tờ gì?”")
FOLLOW_GREETING = "Xin chào"   # a new follower is greeted as if they had said hello


def _anon(user_id: str) -> str:
    """A short, stable, non-reversible tag for a user id, for logs."""
    return hashlib.sha256(str(user_id).encode()).hexdigest()[:10]


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def sign_body(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The ``X-ZEvent-Signature`` value Zalo puts on a webhook call: ``mac=`` + the plain SHA-256
    (not an HMAC) of app_id + raw body + timestamp + OA secret key, in lowercase hex."""
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()
    return "mac=" + digest


# --------------------------------------------------------------------------------------------- tokens


class ZaloTokenStore:
    """The current OA token pair, kept durably in ``path`` (JSON, mode 0600).

    The refresh token is single-use, so the pair a refresh returns is written (atomically, and
    fsynced) before it is used: after a crash the stored pair is used, not the environment's
    first pair, which Zalo no longer accepts. The file also records a fingerprint of the first
    pair it was seeded from; if the operator configures a different first pair (re-authorised
    the app), that one wins and replaces the stored one.
    """

    def __init__(self, path: str | os.PathLike, initial_access: str | None = None,
                 initial_refresh: str | None = None, *, now: Callable[[], float] = time.time):
        self.path = Path(path)
        self._now = now
        self._seed = _fingerprint(initial_refresh) if initial_refresh else None
        self.access_token: str | None = initial_access
        self.refresh_token: str | None = initial_refresh
        self.expires_at: float | None = None   # epoch seconds; None: unknown (a first pair)
        stored = self._read()
        if stored is not None and (self._seed is None or stored.get("seed") in (None, self._seed)):
            self._apply(stored)
        elif stored is not None:
            log.info("zalo: a new first token pair is configured; it replaces the stored pair")
            self._write()

    # -- reading and writing

    def _read(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.error("zalo: token file %s unreadable (%s); using the configured pair", self.path,
                      type(error).__name__)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            log.error("zalo: token file %s malformed; using the configured pair", self.path)
            return None
        return data

    def _apply(self, data: Mapping) -> None:
        self.access_token = data.get("access_token")
        self.refresh_token = data.get("refresh_token")
        expires_at = data.get("expires_at")
        self.expires_at = float(expires_at) if isinstance(expires_at, (int, float)) else None
        if data.get("seed") and self._seed is None:
            self._seed = data["seed"]

    def _write(self) -> None:
        """Write the current pair atomically: temp file in the same folder, fsync, os.replace, fsync dir."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"access_token": self.access_token, "refresh_token": self.refresh_token,
                  "expires_at": self.expires_at, "seed": self._seed, "updated_at": self._now()}
        fd, tmp = tempfile.mkstemp(prefix=".zalo_tokens.", suffix=".tmp", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def save(self, access_token: str, refresh_token: str | None, expires_in: Any = None) -> None:
        """Replace the pair; it is on disk (fsynced) when this returns. ``expires_in``: seconds, int or
        string ("90000"); the expiry time is stored. If writing fails the pair is still kept in memory
        (the old refresh token is spent) and ``OSError`` is raised."""
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            seconds = None
        self.access_token = access_token
        if refresh_token:
            self.refresh_token = refresh_token
        self.expires_at = self._now() + seconds if seconds and seconds > 0 else None
        self._write()

    def reload(self) -> bool:
        """Re-read the file (another process may have refreshed); True if the access token changed."""
        stored = self._read()
        if stored is None or (self._seed is not None and stored.get("seed") not in (None, self._seed)):
            return False
        before = self.access_token
        self._apply(stored)
        return self.access_token != before

    def expired(self, margin: float = EXPIRY_MARGIN_SECONDS) -> bool:
        """True once the stored ``expires_in`` has passed (minus ``margin``); False when unknown."""
        return self.expires_at is not None and self._now() >= self.expires_at - margin

    @contextlib.asynccontextmanager
    async def interprocess_lock(self) -> AsyncIterator[None]:
        """An exclusive lock on ``<path>.lock`` (flock), so two processes never refresh together."""
        if fcntl is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __repr__(self) -> str:  # never show the tokens
        return f"ZaloTokenStore({str(self.path)!r}, expires_at={self.expires_at!r})"


# --------------------------------------------------------------------------------------------- client


class ZaloAPIError(SendFailed):
    """Zalo refused a message for good (``error`` other than the retryable ones)."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


def _error_code(data: Any) -> int | None:
    if not isinstance(data, dict) or "error" not in data:
        return None
    try:
        return int(data["error"])
    except (TypeError, ValueError):
        return None


def _retry_after(headers: httpx.Headers) -> float:
    for name in ("retry-after", "x-ratelimit-reset", "x-ratelimit-retry-after"):
        value = headers.get(name)
        if value:
            try:
                seconds = float(value)
            except ValueError:
                continue
            if 0 < seconds <= 24 * 3600:
                return seconds
    return DEFAULT_RETRY_AFTER


def with_choices(text: str, titles: list[str]) -> str:
    """``text`` followed by the choices as numbered lines and the hint, for clients without buttons."""
    lines = [text.rstrip()] if text.strip() else []
    lines += [f"{number}. {title}" for number, title in enumerate(titles, 1)]
    lines.append(BUTTON_HINT)
    return "\n".join(lines)


def _short_title(title: str) -> str:
    title = " ".join(str(title).split())
    return title if len(title) <= MAX_TITLE_CHARS else title[:MAX_TITLE_CHARS - 1].rstrip() + "…"


def _button_payload(payload: str) -> str:
    """What the button sends back: our payload, or its ``payload_key`` when too long for Zalo."""
    return payload if len(payload) <= MAX_BUTTON_PAYLOAD_CHARS else payload_key(payload)


class ZaloOAClient:
    """Async client of the Zalo OA OpenAPI: customer-service messages and token refresh.

    ``send_*`` return the ``data`` of each message Zalo accepted and raise the channel errors:
    ``RetryLater`` (network, 5xx, non-JSON, rate limit -32, a token that stays invalid after one
    refresh, a failed refresh), ``OutsideWindow`` (-230) and ``SendFailed``/``ZaloAPIError``
    (-213 not a follower, -244 blocked, -211 out of quota, anything else).
    """

    def __init__(self, app_id: str, app_secret: str, tokens: ZaloTokenStore,
                 api_url: str = "https://openapi.zalo.me", oauth_url: str = "https://oauth.zaloapp.com",
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10):
        self.app_id = app_id
        self._app_secret = app_secret
        self.tokens = tokens
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self._http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout))
        self._lock = asyncio.Lock()
        self.refreshes = 0   # refreshes this client made (for monitoring and tests)

    def __repr__(self) -> str:
        return f"ZaloOAClient(app_id={self.app_id!r}, api_url={self.api_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- messages

    async def send_text(self, user_id: str, text: str) -> list[dict]:
        """Send ``text`` (NFC; split at line breaks into pieces of at most 2,000 characters)."""
        pieces = split_text(unicodedata.normalize("NFC", text), MAX_TEXT_CHARS)
        return [await self._send(user_id, {"text": piece}) for piece in pieces]

    async def send_buttons(self, user_id: str, text: str, buttons: list[Mapping]) -> list[dict]:
        """Send ``text`` with buttons (``[{"title", "payload"}]``, at most 5 attached as
        ``oa.query.hide``: the payload comes back as the citizen's text but is not shown in the chat,
        so the citizen does not see "/ask_fee{...}"); the text also lists every choice as a numbered line plus the hint, so a
        client that shows no buttons still works. Buttons go on the last piece of a long text."""
        choices = [b for b in buttons if isinstance(b, Mapping) and b.get("title") is not None]
        if not choices:
            return await self.send_text(user_id, text)
        titles = [_short_title(b["title"]) for b in choices]
        # The numbered choices stay together, after the question, on the piece carrying the buttons.
        text = unicodedata.normalize("NFC", text).strip()
        block = unicodedata.normalize("NFC", with_choices("", titles))
        pieces = split_text(text, MAX_TEXT_CHARS) if text else []
        if pieces and len(pieces[-1]) + 1 + len(block) <= MAX_TEXT_CHARS:
            pieces[-1] = f"{pieces[-1]}\n{block}"
        else:
            pieces += split_text(block, MAX_TEXT_CHARS)
        attachment = {"type": "template", "payload": {"buttons": [
            {"title": title, "type": "oa.query.hide",
             "payload": _button_payload(str(button.get("payload") or button["title"]))}
            for title, button in list(zip(titles, choices))[:MAX_BUTTONS]]}}
        results = [await self._send(user_id, {"text": piece}) for piece in pieces[:-1]]
        results.append(await self._send(user_id, {"text": pieces[-1], "attachment": attachment}))
        return results

    async def _send(self, user_id: str, message: dict) -> dict:
        body = {"recipient": {"user_id": str(user_id)}, "message": message}
        if self.tokens.expired():
            await self._refresh_if_stale(self.tokens.access_token, proactive=True)
        token = self.tokens.access_token
        if not token:
            raise RetryLater("Zalo: no access token")
        code, data, response = await self._post_message(token, body)
        if code in TOKEN_ERRORS:
            log.info("zalo: access token refused (error %s); refreshing", code)
            await self._refresh_if_stale(token)
            code, data, response = await self._post_message(self.tokens.access_token or "", body)
            if code in TOKEN_ERRORS:
                raise RetryLater(f"Zalo: access token still refused after a refresh (error {code})")
        return self._result(code, data, response, user_id)

    async def _post_message(self, token: str, body: dict) -> tuple[int | None, Any, httpx.Response]:
        try:
            response = await self._http.post(f"{self.api_url}/v3.0/oa/message/cs", json=body,
                                             headers={"access_token": token})
        except httpx.HTTPError as error:
            raise RetryLater(f"Zalo unreachable: {type(error).__name__}") from None
        if response.status_code >= 500:
            raise RetryLater(f"Zalo answered HTTP {response.status_code}")
        if response.status_code == 429:
            raise RetryLater("Zalo answered HTTP 429", retry_after=_retry_after(response.headers))
        try:
            data = response.json()
        except ValueError:
            raise RetryLater(f"Zalo answered non-JSON (HTTP {response.status_code})") from None
        return _error_code(data), data, response

    @staticmethod
    def _result(code: int | None, data: Any, response: httpx.Response, user_id: str) -> dict:
        if code == 0:
            result = data.get("data") if isinstance(data.get("data"), dict) else {}
            return result
        reason = str(data.get("message") or "")[:200] if isinstance(data, dict) else ""
        if code is None:
            raise RetryLater(f"Zalo answered without an error code (HTTP {response.status_code})")
        log.warning("zalo: send to user %s failed with error %s", _anon(user_id), code)
        if code == RATE_LIMITED:
            raise RetryLater(f"Zalo rate limit (error {code})", retry_after=_retry_after(response.headers))
        if code == NOT_INTERACTED:
            raise OutsideWindow(f"Zalo: the user has not interacted with the OA recently (error {code})")
        raise ZaloAPIError(code, f"Zalo error {code}: {reason}")

    # -- tokens

    async def refresh(self) -> None:
        """Refresh the token pair now (whatever its expiry)."""
        async with self._lock:
            async with self.tokens.interprocess_lock():
                await self._do_refresh()

    async def _refresh_if_stale(self, stale: str | None, proactive: bool = False) -> None:
        """Refresh unless someone else (this process or another) replaced ``stale`` meanwhile."""
        async with self._lock:
            if self.tokens.access_token != stale:
                return
            async with self.tokens.interprocess_lock():
                self.tokens.reload()
                if self.tokens.access_token != stale or (proactive and not self.tokens.expired()):
                    return
                await self._do_refresh()

    async def _do_refresh(self) -> None:
        refresh_token = self.tokens.refresh_token
        if not refresh_token:
            raise RetryLater("Zalo: no refresh token")
        try:
            response = await self._http.post(
                f"{self.oauth_url}/v4/oa/access_token",
                data={"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"},
                headers={"secret_key": self._app_secret})
        except httpx.HTTPError as error:
            log.error("zalo: token refresh failed: %s", type(error).__name__)
            raise RetryLater(f"Zalo token refresh unreachable: {type(error).__name__}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) or not data["access_token"]:
            code = _error_code(data)
            name = str(data.get("error_name") or "")[:80] if isinstance(data, dict) else ""
            log.error("zalo: token refresh refused (HTTP %s, error %s %s)", response.status_code, code, name)
            raise RetryLater(f"Zalo token refresh failed (HTTP {response.status_code}, error {code} {name})".strip())
        new_refresh = data.get("refresh_token") if isinstance(data.get("refresh_token"), str) else None
        if not new_refresh:
            log.warning("zalo: token refresh answered no new refresh token; keeping the old one")
        try:
            self.tokens.save(data["access_token"], new_refresh, data.get("expires_in"))
        except OSError as error:
            # The old refresh token is spent: keep the new pair in memory (this process keeps
            # working) and shout, as a restart would need a newly authorised pair.
            log.critical("zalo: could not store the refreshed token pair (%s); it lives in memory only",
                         type(error).__name__)
        self.refreshes += 1
        log.info("zalo: token pair refreshed")


# --------------------------------------------------------------------------------------------- channel


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _event_time(timestamp: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(str(timestamp)) / 1000, tz=dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _looks_like_payload_key(text: str) -> bool:
    return len(text) == 17 and text[0] == "k" and all(c in "0123456789abcdef" for c in text[1:])


class ZaloChannel(Channel):
    """The Zalo OA channel.

    Events: ``user_send_text`` is a message (a click on one of our ``oa.query.hide`` buttons
    arrives the same way, its text being the payload: a text starting with "/" is also reported
    as ``payload`` and a ``payload_key``-shaped one as ``payload_key``, for the app to check
    against the buttons it offered); other ``user_send_*`` events (image, sticker, …) get a
    polite ``notice``; ``follow`` is reported as the new follower saying "Xin chào", so the bot
    greets them; the OA's own echoes (``oa_send_*``), ``unfollow``, receipts and unknown events
    give nothing.

    Documents are sent as a link in the text ("Tờ khai PDF: <url>"), not through Zalo's file
    upload: that upload is a separate call that stores our citizens' filled-in forms on Zalo's
    servers, is limited in size and type, and needs the file bytes here; a short-lived signed
    link keeps the dossier on our server and works in every Zalo client.
    """

    name = "zalo"

    def __init__(self, client: ZaloOAClient, app_id: str, oa_secret_key: str, window_hours: float = 48):
        self.client = client
        self.app_id = str(app_id)
        self._oa_secret_key = oa_secret_key
        self.window = dt.timedelta(hours=window_hours)

    def __repr__(self) -> str:
        return f"ZaloChannel(app_id={self.app_id!r})"

    @classmethod
    def from_settings(cls, config, transport: httpx.AsyncBaseTransport | None = None) -> Optional["ZaloChannel"]:
        """The channel, or None (off) unless app id, app secret, OA secret key and a first token pair are set."""
        needed = (config.zalo_app_id, config.zalo_app_secret, config.zalo_oa_secret_key,
                  config.zalo_access_token, config.zalo_refresh_token)
        if not all(needed):
            return None
        from bot.settings import ensure_private_dir

        ensure_private_dir(Path(config.data_dir))
        tokens = ZaloTokenStore(Path(config.data_dir) / TOKEN_FILE, config.zalo_access_token,
                                config.zalo_refresh_token)
        client = ZaloOAClient(config.zalo_app_id, config.zalo_app_secret, tokens, api_url=config.zalo_api_url,
                              oauth_url=config.zalo_oauth_url, transport=transport)
        return cls(client, config.zalo_app_id, config.zalo_oa_secret_key, window_hours=config.zalo_window_hours)

    async def stop(self) -> None:
        await self.client.aclose()

    # -- inbound

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict:
        """The event, if ``X-ZEvent-Signature`` is Zalo's signature of these exact bytes; else 401."""
        signature = _header(headers, "X-ZEvent-Signature")
        if not signature:
            raise WebhookRejected(401, "missing X-ZEvent-Signature")
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(401, "body is not JSON") from None
        if not isinstance(event, dict):
            raise WebhookRejected(401, "body is not a JSON object")
        app_id, timestamp = event.get("app_id"), event.get("timestamp")
        if not isinstance(app_id, (str, int)) or not isinstance(timestamp, (str, int)) or isinstance(app_id, bool):
            raise WebhookRejected(401, "app_id or timestamp missing")
        if not hmac.compare_digest(str(app_id).encode(), self.app_id.encode()):
            raise WebhookRejected(401, "webhook for another app")
        expected = sign_body(self.app_id, body, str(timestamp), self._oa_secret_key)
        if not hmac.compare_digest(signature.strip().encode("utf-8", "replace"), expected.encode()):
            raise WebhookRejected(401, "bad X-ZEvent-Signature")
        return event

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Inbound]:
        event = self.verify(headers, body)
        name = event.get("event_name")
        if not isinstance(name, str):
            return []
        at = _event_time(event.get("timestamp"))
        if name.startswith("user_send_"):
            sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            user_id, msg_id = sender.get("id"), message.get("msg_id")
            if not isinstance(user_id, (str, int)) or not isinstance(msg_id, (str, int)):
                log.info("zalo: %s event without sender or msg_id ignored", name)
                return []
            user_id, msg_id = str(user_id), str(msg_id)
            if name == "user_send_text":
                text = message.get("text")
                if not isinstance(text, str) or not text.strip():
                    return []
                stripped = text.strip()
                return [Inbound(channel=self.name, user_id=user_id, message_id=msg_id, text=text, at=at,
                                payload=stripped if stripped.startswith("/") else None,
                                payload_key=stripped if _looks_like_payload_key(stripped) else None)]
            what = MEDIA_NAMES.get(name[len("user_send_"):], "nội dung này")
            return [Inbound(channel=self.name, user_id=user_id, message_id=msg_id, at=at,
                            notice=NOTICE.format(what=what))]
        if name == "follow":
            follower = event.get("follower") if isinstance(event.get("follower"), dict) else {}
            user_id = follower.get("id")
            if not isinstance(user_id, (str, int)):
                return []
            return [Inbound(channel=self.name, user_id=str(user_id),
                            message_id=f"follow:{user_id}:{event.get('timestamp')}", text=FOLLOW_GREETING, at=at)]
        return []  # oa_send_* echoes, unfollow, receipts, anything new

    # -- outbound

    async def send(self, user_id: str, message: Outbound) -> None:
        text = message.text or ""
        if message.document_url:
            link = f"{DOCUMENT_LABEL}: {message.document_url}"
            text = f"{text.rstrip()}\n\n{link}" if text.strip() else link
        if message.buttons:
            await self.client.send_buttons(user_id, text, message.buttons)
        elif text.strip():
            await self.client.send_text(user_id, text)
        else:
            log.info("zalo: empty message to user %s not sent", _anon(user_id))

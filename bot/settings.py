"""Configuration, read from the environment in this one place.

| variable | default | meaning |
|---|---|---|
| BOT_HOST | 127.0.0.1 | address the bot app listens on |
| BOT_PORT | 8000 | port of the bot app (web chat and API) |
| RASA_HOST | 127.0.0.1 | address the Rasa servers listen on (and the bot app calls them at); another than loopback needs BOT_SECRET |
| RASA_PORT | 5005 | port of the (first) Rasa server |
| RASA_PROCESSES | 1 | Rasa server processes `python -m bot run` starts, on RASA_PORT, RASA_PORT+1, …; more than one needs REDIS_URL and BOT_SECRET (and DATABASE_URL when they run on several hosts) |
| DATABASE_URL | (unset: SQLite in BOT_DATA_DIR) | SQLAlchemy URL of the app's own data and Rasa's tracker store (their tables side by side in one database), e.g. `postgresql://bot:…@db.local/bot` |
| REDIS_URL | (unset: Rasa's in-memory lock store, limits in BOT_DATA_DIR) | Redis for Rasa's lock store (one turn at a time per conversation across Rasa processes), the rate limits and lock-outs of every machine, and instant live updates across bot app processes, e.g. `redis://127.0.0.1:6379/0` |
| APP_PROCESSES | 1 | bot app processes (uvicorn workers on BOT_PORT); more than one needs BOT_SECRET |
| ACTIONS_PROCESSES | 1 | action server processes (Sanic workers on ACTIONS_PORT); more than one needs BOT_SECRET |
| ACTIONS_HOST | 127.0.0.1 | address the action server listens on (and Rasa calls it at); another than loopback needs BOT_SECRET |
| ACTIONS_PORT | 5055 | port of the action server |
| ACTIONS_TOKEN | derived from BOT_SECRET | shared secret Rasa sends to the action server (refused without it) |
| RASA_TOKEN | derived from BOT_SECRET | token of Rasa's HTTP API and of its REST channel (the bot app sends it) |
| ACTIONS_TIMEOUT | 0.7 × RASA_TIMEOUT | seconds Rasa waits for the action server; always below RASA_TIMEOUT |
| BOT_DATA_DIR | var | folder for the SQLite databases |
| BOT_MODEL | models/current.tar.gz | trained Rasa model |
| RASA_TIMEOUT | 10 | seconds to wait for Rasa before answering "Hệ thống đang bận" |
| MAX_MESSAGE_CHARS | 2000 | longer messages get a polite answer instead of going to the NLU |
| MAX_BODY_BYTES | 65536 | larger request bodies are refused with 413 before they are read whole |
| RATE_LIMIT_PER_MINUTE | 60 | messages per minute from one client address on the public routes |
| CONVERSATION_RATE_PER_MINUTE | 20 | messages per minute into one conversation |
| MAX_ATTEMPTS | 3 | a kept message whose turn fails this many times is marked failed and the citizen told |
| BOT_PUBLIC_URL | http://localhost:BOT_PORT | base of links sent to citizens (PDF downloads) |
| BOT_SECRET | generated into BOT_DATA_DIR/secret.key | key that signs PDF links |
| STAFF_API_TOKEN | (unset: staff API off) | bearer token for the staff HTTP API |
| DRAFT_RETENTION_DAYS | 30 | unsubmitted drafts, chat messages and Rasa's conversation events older than this are deleted |
| ACCESS_LOG_RETENTION_DAYS | 365 | entries of the staff access log (who opened which conversation or dossier, privacy exports and deletions) older than this are deleted |
| PDF_LINK_HOURS | 72 | a PDF download link works for this many hours |
| ZALO_APP_ID | (unset: Zalo off) | Zalo app id (developers.zalo.me) |
| ZALO_APP_SECRET | (unset: Zalo off) | the app's OAuth secret key, sent when refreshing tokens |
| ZALO_OA_SECRET_KEY | (unset: Zalo off) | the OA secret key that signs webhooks (X-ZEvent-Signature) |
| ZALO_ACCESS_TOKEN | (unset) | first OA access token; later ones are stored by the app in BOT_DATA_DIR |
| ZALO_REFRESH_TOKEN | (unset) | first refresh token (single use; replaced pairs are stored by the app) |
| ZALO_API_URL | https://openapi.zalo.me | Zalo OpenAPI base URL |
| ZALO_OAUTH_URL | https://oauth.zaloapp.com | Zalo OAuth base URL (token refresh) |
| ZALO_WINDOW_HOURS | 48 | Zalo sends free customer-service messages this long after the citizen's last message; later notifications wait |
| WIDGET_ORIGINS | (unset: same origin only) | space-separated origins of the city pages that may embed the chat widget (CSP frame-ancestors), e.g. `https://dichvucong.hochiminhcity.gov.vn` |
| TELEGRAM_BOT_TOKEN | (unset: Telegram off) | bot token from @BotFather |
| TELEGRAM_WEBHOOK_SECRET | (unset: Telegram off in webhook mode) | secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (1–256 of A-Z a-z 0-9 _ -) |
| TELEGRAM_API_URL | https://api.telegram.org | Bot API base URL (methods at {url}/bot<token>/<method>) |
| TELEGRAM_MODE | webhook | `webhook` (production) or `polling` (development, no public URL needed) |
| OFFICE_HOURS | T2-T6 07:30-11:30,13:30-17:00 | when volunteers take chats (Vietnam time; `;` between groups, e.g. `T2-T6 07:30-17:00; T7 07:30-11:30`; public holidays closed), or `always` |
| HANDOVER_CLAIM_TIMEOUT_MINUTES | 10 | a claimed chat whose citizen waits this long for the volunteer's answer goes back to the queue |
| NLU_DATA_DIR | nlu_data | training data the staff page writes learned examples into and "Huấn luyện" trains from (tests use a copy) |
| PROCEDURES_DIR | procedures/catalogue | hand-written procedure records the staff page edits (read in `procedures/loading.py`) |
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _path(name: str, default: str) -> Path:
    path = Path(os.environ.get(name, default))
    return path if path.is_absolute() else ROOT / path


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    rasa_port: int
    actions_port: int
    data_dir: Path
    model: Path
    rasa_timeout: float
    max_message_chars: int
    public_url: str = ""
    staff_token: str | None = field(default=None, repr=False)
    draft_retention_days: int = 30
    access_log_retention_days: int = 365
    pdf_link_hours: int = 72
    secret_override: str | None = field(default=None, repr=False)
    actions_host: str = "127.0.0.1"
    rasa_host: str = "127.0.0.1"
    actions_token_override: str | None = field(default=None, repr=False)
    rasa_token_override: str | None = field(default=None, repr=False)
    actions_timeout_override: float | None = None
    max_body_bytes: int = 65536
    rate_limit_per_minute: int = 60
    conversation_rate_per_minute: int = 20
    max_attempts: int = 3
    zalo_app_id: str | None = None
    zalo_app_secret: str | None = field(default=None, repr=False)
    zalo_oa_secret_key: str | None = field(default=None, repr=False)
    zalo_access_token: str | None = field(default=None, repr=False)
    zalo_refresh_token: str | None = field(default=None, repr=False)
    zalo_api_url: str = "https://openapi.zalo.me"
    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_window_hours: float = 48
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: str = "webhook"
    widget_origins: tuple[str, ...] = ()
    office_hours: str = "T2-T6 07:30-11:30,13:30-17:00"
    handover_claim_timeout_minutes: float = 10
    nlu_data_dir: Path = ROOT / "nlu_data"
    rasa_processes: int = 1
    app_processes: int = 1
    actions_processes: int = 1
    database_url: str = field(default="", repr=False)
    redis_url: str = field(default="", repr=False)

    @property
    def rasa_url(self) -> str:
        """The first Rasa process (the one a single-process setup has)."""
        return self.rasa_urls[0]

    @property
    def rasa_ports(self) -> tuple[int, ...]:
        return tuple(self.rasa_port + number for number in range(self.rasa_processes))

    @property
    def rasa_urls(self) -> tuple[str, ...]:
        """Every Rasa process the bot app may send a turn to (``bot.rasa_client``)."""
        return tuple(f"http://{call_host(self.rasa_host)}:{port}" for port in self.rasa_ports)

    def scale_out_problems(self) -> list[str]:
        """Why these settings cannot run as configured (several processes or hosts; empty when they can)."""
        problems = []
        exposed = [name for name, host in (("RASA_HOST", self.rasa_host), ("ACTIONS_HOST", self.actions_host))
                   if not _loopback(host)]
        if exposed and not self.secret_override:
            problems.append(f"{' và '.join(exposed)} không phải địa chỉ nội bộ (loopback): cần BOT_SECRET, để mọi "
                            "máy dùng cùng một khóa bí mật")
        for name, count in (("APP_PROCESSES", self.app_processes), ("ACTIONS_PROCESSES", self.actions_processes)):
            if count > 1 and not self.secret_override:
                problems.append(f"{name} > 1 cần BOT_SECRET: mọi tiến trình phải dùng cùng một khóa bí mật")
        if self.rasa_processes == 1:
            return problems
        if not self.redis_url:
            problems.append("RASA_PROCESSES > 1 cần REDIS_URL: các tiến trình Rasa phải dùng chung kho khóa "
                            "(lock store), nếu không hai tiến trình có thể cùng xử lý một cuộc trò chuyện")
        if not self.secret_override and not exposed:
            problems.append("RASA_PROCESSES > 1 cần BOT_SECRET: mọi tiến trình phải dùng cùng một khóa bí mật")
        return problems

    @property
    def actions_url(self) -> str:
        """Where Rasa calls the action server (``endpoints.yml``)."""
        return f"http://{call_host(self.actions_host)}:{self.actions_port}/webhook"

    @property
    def actions_health_url(self) -> str:
        return self.actions_url.rsplit("/", 1)[0] + "/health"

    @property
    def actions_timeout(self) -> float:
        """Seconds Rasa waits for an action: always shorter than ``rasa_timeout``, so a slow action
        fails inside Rasa (and Rasa answers) before the bot app gives up on Rasa."""
        wanted = self.actions_timeout_override or 0.7 * self.rasa_timeout
        return max(0.1, min(wanted, 0.8 * self.rasa_timeout))

    @property
    def limits_db(self) -> Path:
        return self.data_dir / "limits.db"

    @property
    def app_db(self) -> Path:
        return self.data_dir / "bot.db"

    @property
    def app_database(self) -> "Path | str":
        """Where the bot app keeps its own data (messages, dossiers, handovers, accounts, …), for
        ``bot.db.database``: DATABASE_URL, or the SQLite file ``bot.db`` in the data folder."""
        return self.database_url or self.app_db

    @property
    def tracker_db(self) -> Path:
        return self.data_dir / "rasa_tracker.db"

    @property
    def tracker_url(self) -> str:
        """SQLAlchemy URL of Rasa's tracker store: DATABASE_URL, or the SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.tracker_db}"

    @property
    def link_base(self) -> str:
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    def secret(self) -> str:
        """BOT_SECRET, or a random key kept in the data folder (created on first use).

        The key file is created atomically with mode 0600 (``O_CREAT | O_EXCL``): two processes
        starting together both end up reading the one key that was written first.
        """
        if self.secret_override:
            return self.secret_override
        path = self.data_dir / "secret.key"
        ensure_private_dir(self.data_dir)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        for _ in range(50):  # another process may have created it and not written it yet
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty")

    def derived_secret(self, purpose: str) -> str:
        """A secret for one purpose (e.g. the action-server token), derived from ``secret()``."""
        return hmac.new(self.secret().encode(), purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def actions_token(self) -> str:
        return self.actions_token_override or self.derived_secret("action-server")

    @property
    def rasa_token(self) -> str:
        return self.rasa_token_override or self.derived_secret("rasa-api")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def call_host(host: str) -> str:
    """Where to call a server listening on ``host`` (every address → loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed; files the processes create there are private (umask 077)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with_mode = path.stat().st_mode & 0o777
    if with_mode & 0o077:
        path.chmod(0o700)
    return path


def load() -> Settings:
    """Settings from the current environment."""
    return Settings(
        host=os.environ.get("BOT_HOST", "127.0.0.1"),
        port=_int("BOT_PORT", 8000),
        rasa_port=_int("RASA_PORT", 5005),
        actions_port=_int("ACTIONS_PORT", 5055),
        data_dir=_path("BOT_DATA_DIR", "var"),
        model=_path("BOT_MODEL", "models/current.tar.gz"),
        rasa_timeout=_float("RASA_TIMEOUT", 10),
        max_message_chars=_int("MAX_MESSAGE_CHARS", 2000),
        public_url=os.environ.get("BOT_PUBLIC_URL", ""),
        staff_token=os.environ.get("STAFF_API_TOKEN") or None,
        draft_retention_days=_int("DRAFT_RETENTION_DAYS", 30),
        access_log_retention_days=_int("ACCESS_LOG_RETENTION_DAYS", 365),
        pdf_link_hours=_int("PDF_LINK_HOURS", 72),
        secret_override=os.environ.get("BOT_SECRET") or None,
        actions_host=os.environ.get("ACTIONS_HOST", "127.0.0.1"),
        rasa_host=os.environ.get("RASA_HOST", "127.0.0.1"),
        actions_token_override=os.environ.get("ACTIONS_TOKEN") or None,
        rasa_token_override=os.environ.get("RASA_TOKEN") or None,
        actions_timeout_override=_float("ACTIONS_TIMEOUT", 0) or None,
        max_body_bytes=_int("MAX_BODY_BYTES", 65536),
        rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", 60),
        conversation_rate_per_minute=_int("CONVERSATION_RATE_PER_MINUTE", 20),
        max_attempts=_int("MAX_ATTEMPTS", 3),
        zalo_app_id=os.environ.get("ZALO_APP_ID") or None,
        zalo_app_secret=os.environ.get("ZALO_APP_SECRET") or None,
        zalo_oa_secret_key=os.environ.get("ZALO_OA_SECRET_KEY") or None,
        zalo_access_token=os.environ.get("ZALO_ACCESS_TOKEN") or None,
        zalo_refresh_token=os.environ.get("ZALO_REFRESH_TOKEN") or None,
        zalo_api_url=os.environ.get("ZALO_API_URL", "https://openapi.zalo.me").rstrip("/"),
        zalo_oauth_url=os.environ.get("ZALO_OAUTH_URL", "https://oauth.zaloapp.com").rstrip("/"),
        zalo_window_hours=_float("ZALO_WINDOW_HOURS", 48),
        telegram_bot_token=os.environ.get("TELEGRAM_BOT_TOKEN") or None,
        telegram_webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None,
        telegram_api_url=os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/"),
        telegram_mode=os.environ.get("TELEGRAM_MODE", "webhook"),
        widget_origins=tuple(os.environ.get("WIDGET_ORIGINS", "").split()),
        office_hours=os.environ.get("OFFICE_HOURS", "T2-T6 07:30-11:30,13:30-17:00"),
        handover_claim_timeout_minutes=_float("HANDOVER_CLAIM_TIMEOUT_MINUTES", 10),
        nlu_data_dir=_path("NLU_DATA_DIR", "nlu_data"),
        rasa_processes=max(1, _int("RASA_PROCESSES", 1)),
        app_processes=min(32, max(1, _int("APP_PROCESSES", 1))),
        actions_processes=min(32, max(1, _int("ACTIONS_PROCESSES", 1))),
        database_url=os.environ.get("DATABASE_URL", ""),
        redis_url=os.environ.get("REDIS_URL", ""),
    )

"""Configuration, read from the environment in this one place.

| variable | default | meaning |
|---|---|---|
| BOT_HOST | 127.0.0.1 | address the bot app listens on |
| BOT_PORT | 8000 | port of the bot app (web chat and API) |
| RASA_PORT | 5005 | port of the Rasa server |
| ACTIONS_PORT | 5055 | port of the action server |
| BOT_DATA_DIR | var | folder for the SQLite databases |
| BOT_MODEL | models/current.tar.gz | trained Rasa model |
| RASA_TIMEOUT | 10 | seconds to wait for Rasa before answering "Hệ thống đang bận" |
| MAX_MESSAGE_CHARS | 2000 | longer messages get a polite answer instead of going to the NLU |
| BOT_PUBLIC_URL | http://localhost:BOT_PORT | base of links sent to citizens (PDF downloads) |
| BOT_SECRET | generated into BOT_DATA_DIR/secret.key | key that signs PDF links |
| STAFF_API_TOKEN | (unset: staff API off) | bearer token for the staff HTTP API |
| DRAFT_RETENTION_DAYS | 30 | unsubmitted draft dossiers are deleted after this many days |
| PDF_LINK_HOURS | 72 | a PDF download link works for this many hours |
"""

from __future__ import annotations

import os
import secrets
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
    pdf_link_hours: int = 72
    secret_override: str | None = field(default=None, repr=False)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def app_db(self) -> Path:
        return self.data_dir / "bot.db"

    @property
    def tracker_db(self) -> Path:
        return self.data_dir / "rasa_tracker.db"

    @property
    def link_base(self) -> str:
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    def secret(self) -> str:
        """BOT_SECRET, or a random key kept in the data folder (created on first use)."""
        if self.secret_override:
            return self.secret_override
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


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
        pdf_link_hours=_int("PDF_LINK_HOURS", 72),
        secret_override=os.environ.get("BOT_SECRET") or None,
    )

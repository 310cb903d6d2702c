"""Unguessable, expiring tokens for PDF download links (HMAC-SHA256, stdlib only).

A token is ``<code>.<expiry unix time>.<signature>``; the signature covers code and
expiry, so neither can be changed. The dossier code is not personal data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Optional

from .codes import CODE_RE as _CODE_RE

__all__ = ["TokenError", "InvalidToken", "ExpiredToken", "make_pdf_token", "check_pdf_token"]


class TokenError(ValueError):
    """A download token that cannot be used."""


class InvalidToken(TokenError):
    """Malformed or forged token."""


class ExpiredToken(TokenError):
    """A genuine token whose time is up."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise ValueError("the token secret must be at least 16 bytes")
    return key


def _sign(payload: str, secret: str | bytes) -> str:
    digest = hmac.new(_key(secret), b"pdf:" + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_pdf_token(code: str, secret: str | bytes, ttl: int = 3600, now: Optional[float] = None) -> str:
    """A token granting access to ``code``'s PDF for ``ttl`` seconds."""
    if not _CODE_RE.match(code):
        raise ValueError(f"not a dossier code: {code!r}")
    expires = int((time.time() if now is None else now) + ttl)
    payload = f"{code}.{expires}"
    return f"{payload}.{_sign(payload, secret)}"


def check_pdf_token(token: str, secret: str | bytes, now: Optional[float] = None) -> str:
    """The dossier code a valid token grants; raises :class:`InvalidToken` / :class:`ExpiredToken`."""
    parts = (token if isinstance(token, str) else "").split(".")
    if len(parts) != 3 or not _CODE_RE.match(parts[0]) or not (parts[1].isascii() and parts[1].isdigit()):
        raise InvalidToken("malformed token")
    payload = f"{parts[0]}.{parts[1]}"
    if not parts[2].isascii() or not hmac.compare_digest(_sign(payload, secret).encode(), parts[2].encode()):
        raise InvalidToken("bad signature")
    if (time.time() if now is None else now) >= int(parts[1]):
        raise ExpiredToken("token expired")
    return parts[0]

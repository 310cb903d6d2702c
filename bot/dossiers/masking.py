"""Masking of personal numbers for chat summaries and logs."""

from __future__ import annotations

import re

__all__ = ["mask", "mask_numbers", "phone_last4"]


def mask(value: object) -> str:
    """Hide the middle of a personal value.

    Values of 8 characters or more keep their first 4 and last 3 characters
    ("001090012345" → "0010*****345", "0912345678" → "0912***678"); shorter ones keep
    only their last character; spaces inside the value are dropped first.
    """
    text = re.sub(r"\s+", "", str(value or ""))
    if len(text) >= 8:
        return text[:4] + "*" * (len(text) - 7) + text[-3:]
    if len(text) <= 1:
        return "*" * len(text)
    return "*" * (len(text) - 1) + text[-1]


def phone_last4(phone: object) -> str | None:
    """The last four digits of a phone number (what a citizen quotes to get access)."""
    digits = re.sub(r"\D", "", str(phone or ""))
    return digits[-4:] if len(digits) >= 4 else None


# 9+ digits, possibly written with spaces, dots or dashes ("0912 345 678", "+84 912.345.678"),
# not part of a word or a dossier code ("HS-2026-000123").
_NUMBER = re.compile(r"(?<![\w-])\+?\d(?:[ .-]?\d){8,}(?![\w-])")


def mask_numbers(text: str) -> str:
    """``text`` with every long number (ID, phone) masked, for storing chat messages."""
    return _NUMBER.sub(lambda m: mask(re.sub(r"[ .-]", "", m.group(0))), text)

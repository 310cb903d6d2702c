"""Personal numbers (ID, phone): one way to read them, one way to mask them.

:func:`personal_number` is the only place that decides what a personal number written
with separators looks like; the validators (``parse_phone``, ``parse_personal_id``) read
answers with it and :func:`mask_numbers` finds numbers in free text with the same grammar,
so whatever a validator accepts as a number is masked in stored messages:

- the text is normalised first (``bot.textinput.normalise_input``: fullwidth and other
  scripts' digits → ASCII, tabs / non-breaking spaces → one space, invisible characters gone);
- between the digits, any run of ``SEPARATORS`` (spaces, line breaks, dots, dashes of every
  kind, parentheses): "0912  345  678", "001 - 090 - 012345", "(+84) 912.345.678";
- a ``+`` may stand before the first digit (country code).
"""

from __future__ import annotations

import re
from typing import Optional

from bot.textinput import normalise_input

from .codes import _FIND_RE as _CODE_IN_TEXT

__all__ = ["SEPARATORS", "MIN_MASKED_DIGITS", "mask", "mask_numbers", "personal_number", "phone_last4"]

SEPARATORS = " \n.-()\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
MIN_MASKED_DIGITS = 9   # an old 9-digit ID card number; phones have 10, personal ids 12

_SEP = "[" + re.escape(SEPARATORS) + "]"
_WHOLE_NUMBER = re.compile(rf"{_SEP}*(\+?){_SEP}*[0-9](?:{_SEP}*[0-9])*{_SEP}*", re.ASCII)
# A signed PDF link's token ("/dossiers/pdf/HS-2026-K7Q4MP.1796000014.<signature>"): its digits
# are an expiry time and a signature, not personal data, and masking them breaks the link.
_PDF_TOKEN = rf"https?://[^\s/]+/dossiers/pdf/(?:{_CODE_IN_TEXT.pattern})\.[0-9]+\.[A-Za-z0-9_-]+"
# In free text: a PDF link or a dossier code (kept as is), or a number (digits joined by separators).
_IN_TEXT = re.compile(rf"(?P<link>{_PDF_TOKEN})|(?P<code>{_CODE_IN_TEXT.pattern})|(?P<number>\+?[0-9](?:{_SEP}*[0-9])*)",
                      re.ASCII | re.IGNORECASE)


def personal_number(text: object) -> Optional[str]:
    """The digits of ``text`` if it is only a number written with separators, else ``None``.

    "0912  345  678" → "0912345678"; "(+84) 912.345.678" → "+84912345678";
    "001 - 090 - 012345" → "001090012345"; "０９１２３４５６７８" → "0912345678"; "0912a45678" → None.
    """
    clean = normalise_input(text)
    match = _WHOLE_NUMBER.fullmatch(clean)
    if match is None:
        return None
    return match.group(1) + re.sub(r"[^0-9]", "", clean)


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
    """The last four digits of a phone number (what a citizen quotes to get access), ASCII."""
    digits = re.sub(r"[^0-9]", "", normalise_input(phone))
    return digits[-4:] if len(digits) >= 4 else None


def _masked(match: re.Match) -> str:
    if match.group("code") is not None or match.group("link") is not None:
        return match.group(0)
    number = match.group("number")
    digits = re.sub(r"[^0-9]", "", number)
    if len(digits) < MIN_MASKED_DIGITS:
        return number
    return mask(("+" if number.startswith("+") else "") + digits)


def mask_numbers(text: object) -> str:
    """``text`` (normalised) with every long number (ID, phone) masked, for storing chat messages.

    A number is digits joined by any run of separators (see :func:`personal_number`) with at
    least ``MIN_MASKED_DIGITS`` digits; dossier codes ("HS-2026-K7Q4MP") and the tokens of
    signed PDF links (``/dossiers/pdf/…``) are left alone.
    """
    return _IN_TEXT.sub(_masked, normalise_input(text))

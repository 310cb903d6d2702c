"""The one normaliser for what a citizen types, applied once when a message arrives.

``normalise_input`` runs before validation, masking, comparison and the NLU, so every later
step sees the same text:

- Unicode NFKC: fullwidth letters and digits ("５６７８" → "5678"), ligatures and other
  compatibility forms become their plain equivalents; Vietnamese letters stay composed (NFC).
- every decimal digit of any script ("٥٦٧٨", "५६७८") → ASCII "5678";
- control and invisible format characters (zero-width spaces, bidi overrides) removed;
- any run of spaces, tabs or non-breaking spaces → one space; line breaks kept (one per
  break), the whole text stripped.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise_input", "ascii_digits"]

_SPACES = re.compile(r"[^\S\n]+")
_AROUND_NEWLINE = re.compile(r" ?\n[\s]*")


def ascii_digits(text: str) -> str:
    """Every decimal digit, of any script, as its ASCII digit."""
    if text.isascii():
        return text
    out = []
    for char in text:
        if not char.isascii() and char.isdecimal():
            out.append(str(unicodedata.decimal(char)))
        else:
            out.append(char)
    return "".join(out)


def _visible(char: str) -> bool:
    if char in "\n\t":
        return True
    category = unicodedata.category(char)
    return not (category == "Cc" or category == "Cf" or category in ("Cs", "Co", "Cn"))


def normalise_input(text: object) -> str:
    """``text`` as the rest of the bot reads it (see the module docstring); ``None`` → ""."""
    if text is None:
        return ""
    text = str(text)
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = ascii_digits(text)
    text = "".join(char for char in text if _visible(char))
    text = _SPACES.sub(" ", text)
    text = _AROUND_NEWLINE.sub("\n", text)
    return unicodedata.normalize("NFC", text).strip()

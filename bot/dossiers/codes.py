"""Dossier codes: ``HS-2026-K7Q4MP`` — hard to guess, easy to read aloud and to type.

A code is ``HS-<year>-<six characters>`` drawn with :mod:`secrets` from 27 characters
that cannot be mixed up when read aloud or handwritten: the digits 2–9 and the letters of
the Vietnamese alphabet without I, L and O (no 0/O, 1/I/L; no F, J, W, Z either, which
Vietnamese speakers spell out awkwardly). The first and the last of the six are letters,
so the digits of a code never touch other digits: "HS-2026-K7Q4MP 5678" (a code, then the
last 4 phone digits) and even "HS2026K7Q4MP5678" split one way only, and no code reads as
a phone number. That leaves 19 × 27⁴ × 19 ≈ 192 million codes a year; the per-year counter
stays in the database (ordering, statistics) but is not part of the code.

Citizens may type a code in any case, with spaces, dashes or dots between its three parts,
in fullwidth characters ("hs 2026 k7q4mp", "ＨＳ－２０２６－Ｋ７Ｑ４ＭＰ"): :func:`find_code`
and :func:`normalise_code` read them all. Codes issued before this format
(``HS-2026-000123``, sequential) are still recognised when written in full.
"""

from __future__ import annotations

import re
import secrets
from typing import Optional

from bot.textinput import normalise_input

__all__ = ["ALPHABET", "LETTERS", "CODE_RE", "new_code", "find_code", "split_code", "normalise_code", "is_code"]

LETTERS = "ABCDEGHKMNPQRSTUVXY"           # Vietnamese alphabet (ASCII base) without I, L, O
ALPHABET = "23456789" + LETTERS           # 27 characters, nothing to mix up
RANDOM_LENGTH = 6

# Canonical forms, as stored: the current one, and the sequential one of older dossiers.
CODE_RE = re.compile(rf"^HS-[0-9]{{4}}-(?:[{LETTERS}][{ALPHABET}]{{4}}[{LETTERS}]|[0-9]{{6}})\Z")

_SEP = r"[\s.\-_\u2010-\u2015\u2212]*"
# In free text (after normalise_input): "HS", the year and the random part, any separators
# between the parts. The random part must be followed by something that is not a letter:
# digits may follow directly (the last 4 phone digits), the part's last character being a letter.
_FIND_RE = re.compile(
    rf"(?<![A-Za-z0-9])HS{_SEP}([0-9]{{4}}){_SEP}([A-Za-z][A-Za-z0-9]{{4}}[A-Za-z])(?![A-Za-z])"
    rf"|(?<![A-Za-z0-9])HS-([0-9]{{4}})-([0-9]{{6}})(?![A-Za-z0-9])",
    re.IGNORECASE | re.ASCII)


def new_code(year: int) -> str:
    """A fresh random code for ``year`` (the caller checks it is not taken)."""
    middle = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH - 2))
    return f"HS-{year:04d}-{secrets.choice(LETTERS)}{middle}{secrets.choice(LETTERS)}"


def is_code(text: object) -> bool:
    """Whether ``text`` is a code in its canonical form."""
    return isinstance(text, str) and bool(CODE_RE.match(text))


def find_code(text: object) -> Optional[tuple[str, int, int]]:
    """The first dossier code in ``text`` as ``(canonical code, start, end)``, or ``None``.

    ``text`` is normalised first (``normalise_input``); ``start``/``end`` index the
    normalised text, which :func:`split_code` returns with them. A code-shaped word with a
    character outside the alphabet (a typed O or 1) is still found, as a code that does not exist.
    """
    found = split_code(text)
    return None if found is None else found[:3]


def split_code(text: object) -> Optional[tuple[str, int, int, str]]:
    """Like :func:`find_code`, plus the normalised text the positions refer to."""
    clean = normalise_input(text)
    match = _FIND_RE.search(clean)
    if match is None:
        return None
    groups = [g for g in match.groups() if g is not None]
    year, rest = groups[0], groups[1].upper()
    return f"HS-{year}-{rest}", match.start(), match.end(), clean


def normalise_code(code: object) -> str:
    """" hs 2026 k7q4mp " → "HS-2026-K7Q4MP"; text that holds no code → itself, stripped, upper case."""
    found = find_code(code)
    if found is not None:
        return found[0]
    return normalise_input(code).upper() if isinstance(code, str) else ""

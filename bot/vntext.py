"""Vietnamese text helpers: Unicode normalisation, diacritic folding, teencode expansion.

This is the one place where text is normalised. The NLU pipeline (bot.nlu), the
catalogue search (procedures) and the dossier validators all use it.

- ``normalize(text)``: what the NLU sees. NFC, one tone placement ("hoà" → "hòa"),
  lower case, common chat abbreviations expanded ("e mun lm hc thì cần j" →
  "em muốn làm hộ chiếu thì cần gì"), whitespace collapsed. Diacritics are kept.
- ``fold(text)``: for matching. NFC, lower case, diacritics stripped, "đ" → "d",
  whitespace collapsed ("Hộ  chiếu" → "ho chieu").
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["nfc", "fold", "strip_diacritics", "normalize", "expand_abbreviations", "ABBREVIATIONS"]

# Old-style tone placement (on the second vowel of oa/oe/uy) → modern placement used by
# most keyboards and by our catalogue. Both spellings are correct Vietnamese; we pick one.
_TONE_PLACEMENT = {
    "oà": "òa", "oá": "óa", "oả": "ỏa", "oã": "õa", "oạ": "ọa",
    "oè": "òe", "oé": "óe", "oẻ": "ỏe", "oẽ": "õe", "oẹ": "ọe",
    "uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
}
_TONE_RE = re.compile("(" + "|".join(_TONE_PLACEMENT) + r")(?=\W|$)")

# Chat abbreviations and teencode → full words. Keys are whole tokens (lower case).
# Only unambiguous ones: "k" alone means "không" in questions far more often than anything else.
ABBREVIATIONS = {
    "ko": "không", "k": "không", "kh": "không", "onl": "online", "kg": "không", "khong": "không", "hok": "không", "hông": "không",
    "dc": "được", "đc": "được", "dk": "đăng ký", "đk": "đăng ký", "đki": "đăng ký", "dki": "đăng ký",
    "dky": "đăng ký", "đky": "đăng ký",
    "j": "gì", "gi": "gì", "ji": "gì",
    "e": "em", "a": "anh", "c": "chị", "bn": "bao nhiêu", "bnh": "bao nhiêu", "bh": "bao giờ",
    "mk": "mình", "mik": "mình", "mn": "mọi người", "ng": "người", "nguoi": "người",
    "mun": "muốn", "mún": "muốn", "mu0n": "muốn", "lm": "làm", "r": "rồi", "ròi": "rồi",
    "v": "vậy", "vs": "với", "ntn": "như thế nào", "thik": "thích", "bít": "biết", "bik": "biết",
    "hc": "hộ chiếu", "cccd": "căn cước công dân", "cmnd": "chứng minh nhân dân",
    "gplx": "giấy phép lái xe", "gpxd": "giấy phép xây dựng", "lltp": "lý lịch tư pháp",
    "hkd": "hộ kinh doanh", "tthc": "thủ tục hành chính", "ubnd": "ủy ban nhân dân",
    "ttpvhcc": "trung tâm phục vụ hành chính công", "hs": "hồ sơ",
    "ad": "admin", "oke": "ok", "okie": "ok", "uk": "ừ", "uh": "ừ", "um": "ừ",
}
_TOKEN_RE = re.compile(r"\w+|[^\w\s]+", re.UNICODE)
_SPACES_RE = re.compile(r"\s+")


def nfc(text: str) -> str:
    """NFC-normalise and collapse whitespace."""
    return _SPACES_RE.sub(" ", unicodedata.normalize("NFC", text or "")).strip()


def _fix_tone_placement(text: str) -> str:
    return _TONE_RE.sub(lambda m: _TONE_PLACEMENT[m.group(1)], text)


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics, keeping case ("Đà Nẵng" → "Da Nang")."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def fold(text: str) -> str:
    """Lower-case, diacritic-free form of ``text`` for matching and search."""
    return strip_diacritics(nfc(text).lower())


def expand_abbreviations(text: str) -> str:
    """Replace whole-word chat abbreviations ("ko", "đc", "hc") by full words."""
    def _sub(match: re.Match) -> str:
        word = match.group(0)
        return ABBREVIATIONS.get(word.lower(), word)

    return re.sub(r"\w+", _sub, text)


def normalize(text: str) -> str:
    """The text the NLU model sees: NFC, one tone placement, lower case, abbreviations expanded."""
    return expand_abbreviations(_fix_tone_placement(nfc(text).lower()))

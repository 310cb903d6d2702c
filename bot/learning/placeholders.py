"""Personal data → placeholders, and the normalised form that groups "the same question".

``placeholders(text)``: before a citizen's words become a training example, personal data is
replaced by fixed, obviously fake values of the same shape, so the model still learns "a phone
number goes here": phone → ``PHONE``, ID number → ``PERSONAL_ID`` (also in the masked form the
app stores, "0912***678"), dossier code → ``DOSSIER_CODE``, a person's name → ``NAME`` (a
capitalised run after a family name, a cue such as "tên là" or a form of address), a street
address → ``ADDRESS``. Idempotent: the fake values are left as they are.

``group_key(text)``: placeholders, digits → 0, diacritics, case, punctuation and spacing folded.
"""

from __future__ import annotations

import re

from bot.dossiers.masking import SEPARATORS
from bot.textinput import normalise_input
from bot.vntext import fold, nfc

__all__ = ["PHONE", "PERSONAL_ID", "DOSSIER_CODE", "NAME", "ADDRESS", "SURNAMES", "placeholders", "group_key"]

PHONE = "0900000000"
PERSONAL_ID = "001000000000"
DOSSIER_CODE = "HS-2026-AAAAAA"
NAME = "Nguyễn Văn A"
ADDRESS = "số 1 đường A"

_SEP = "[" + re.escape(SEPARATORS) + "]"
_CODE = re.compile(r"(?<![A-Za-z0-9])HS[\s.\-_]*[0-9]{4}[\s.\-_]*[A-Za-z0-9]{6}(?![A-Za-z0-9])", re.IGNORECASE)
_MASKED = re.compile(r"\+?[0-9]{0,4}\*{2,}[0-9]{0,3}|\+?[0-9]{1,4}\*+[0-9]{1,3}")
_NUMBER = re.compile(rf"\+?[0-9](?:{_SEP}*[0-9])*")


def _words(text: str) -> tuple[frozenset, frozenset]:
    """A word list for ``_is``: its words as written, and folded (for text typed without diacritics)."""
    words = text.split()
    return frozenset(words), frozenset(fold(w) for w in words)


def _is(word: str, words: tuple[frozenset, frozenset]) -> bool:
    """Whether ``word`` is in the list: exactly when it has diacritics ("thị" is not "thì"), by its
    folded form when it has none ("thi" may be "thì")."""
    lower = word.lower()
    return lower in words[0] or fold(lower) == lower and lower in words[1]


# Common Vietnamese family names (folded): a capitalised run of 2–4 words starting with one is a name.
SURNAMES = frozenset(fold(s) for s in (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Đoàn Trịnh Trương Lâm "
    "Mai Cao Hà Tô Tạ Lương Lưu Quách Chu Vương Thái Kiều Đào Văn Tăng Triệu Thân Phùng Khúc Mạc Âu "
    "Diệp Hứa Từ Kim Lục Châu Nghiêm Ông Quan Tôn Viên Giang Thạch Doãn Lại Hàn Khổng Mạnh Nông").split())
# Capitalised runs that start with a family name but are places (folded).
PLACES = frozenset(fold(s) for s in (
    "Hà Nội", "Hồ Chí Minh", "Hà Giang", "Hà Tĩnh", "Hà Nam", "Cao Bằng", "Lâm Đồng", "Thái Bình",
    "Thái Nguyên", "Hoàng Mai", "Hà Đông", "Phan Thiết", "Phan Rang", "Lý Sơn", "Vũng Tàu", "Đồng Nai",
    "Hà Tiên", "Châu Đốc", "Lê Chân", "Kiều Ơn"))
_PLACE_WORDS = _words("tp thành phố tỉnh quận huyện phường xã thị trấn thị xã đường phố ngõ hẻm kiệt ấp thôn tổ "
                      "khu chợ bệnh viện trường cầu sông ga sân bay")
_ADMIN_UNITS = _words("tp thành phố tỉnh quận huyện phường xã")
_HONORIFICS = _words("ông bà anh chị cô chú bác cháu bé con dì cậu mợ thím")
_NAME_CUE = re.compile(r"(?<!\w)(?:họ và tên|họ tên|(?:tôi|em|mình|cháu|con|bé|anh|chị|ông|bà|cô|chú) tên(?: là)?"
                       r"|tên(?: của)?(?: tôi| em| mình| cháu| con| bé| chồng| vợ)?(?: là|\s*:))\s*:?\s+",
                       re.IGNORECASE)
_STOP_WORDS = _words("muốn cần làm thì đi ở sinh và với có không là được hỏi xin đăng ký nhé ạ nha vậy giúp "
                     "trong bị hộ chiếu khai sinh căn cước")
_ADDRESS_CUE = re.compile(r"(?<!\w)(?:địa chỉ(?: nhà)?(?: của)?(?: tôi| em| mình)?(?: là| ở)?|số nhà)\s*:?\s+",
                          re.IGNORECASE)
_HOUSE_NUMBER = r"(?:số\s+)?[0-9]+[A-Za-z]?(?:/[0-9]+[A-Za-z]?)*"
# "12 đường Lê Lợi", "ngõ 5 phố Huế", or a house number then a capitalised street ("số 12 Nguyễn Huệ").
_STREET = re.compile(rf"(?<![\w/])(?:{_HOUSE_NUMBER}\s+)?(?:đường|phố|ngõ|ngách|hẻm|kiệt|duong|pho|ngo|hem)\s+(?=\w)"
                     rf"|(?<![\w/.,])(?P<house>{_HOUSE_NUMBER})\s+(?=[^\W\d_])", re.IGNORECASE)
_HOUSE = re.compile(r"(?<![\w/])(?:số\s+)?[0-9]+[A-Za-z]?(?:/[0-9]+[A-Za-z]?)+(?![\w/])")   # "34/5", "123/4A"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _number(match: re.Match) -> str:
    number = match.group(0)
    digits = re.sub(r"[^0-9]", "", number)
    if len(digits) < 9:
        return number
    return PHONE if _is_phone(number.lstrip(), len(digits)) else PERSONAL_ID


def _is_phone(number: str, length: int) -> bool:
    return number.startswith("+84") or number.startswith("84") and length == 11 or \
        number.startswith("0") and length == 10


def _masked(match: re.Match) -> str:
    value = match.group(0)
    return PHONE if _is_phone(value, len(value.lstrip("+"))) else PERSONAL_ID


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def _name_runs(text: str) -> list[tuple[int, int]]:
    """Spans of people's names: capitalised runs after a family name, a cue or a form of address."""
    words = list(_WORD.finditer(text))
    spans, i = [], 0
    while i < len(words):
        j = i
        while j < len(words) and _capitalised(words[j].group(0)) and j - i < 4 \
                and (j == i or text[words[j - 1].end():words[j].start()].strip() == ""):
            j += 1
        run = words[i:j]
        previous = words[i - 1].group(0) if i else ""
        folded = fold(" ".join(w.group(0) for w in run))
        is_place = _is(previous, _PLACE_WORDS) or any(folded.startswith(p) for p in PLACES)
        if run and not is_place and (len(run) >= 2 and fold(run[0].group(0)) in SURNAMES
                                     or i > 0 and _is(previous, _HONORIFICS)):
            spans.append((run[0].start(), run[-1].end()))
            i = j
        else:
            i = max(j, i + 1)
    return spans


def _cued_spans(text: str, cue: re.Pattern, stop_places: bool) -> list[tuple[int, int]]:
    """After a cue ("tên là", "địa chỉ"), the words up to punctuation or a stop word (at most 6)."""
    spans = []
    for match in cue.finditer(text):
        end, count, capitalised = match.end(), 0, False
        for word in _WORD.finditer(text, match.end()):
            between, value = text[end:word.start()], word.group(0)
            if count and (re.search(r"[,.;!?()]", between) or _is(value, _STOP_WORDS)
                          or value.isdigit() and not stop_places or capitalised and not _capitalised(value)
                          or stop_places and _is(value, _ADMIN_UNITS)):
                break
            if not count:
                capitalised = _capitalised(word.group(0)) and not stop_places
            end, count = word.end(), count + 1
            if count >= 6:
                break
        if count:
            spans.append((match.end(), end))
    return spans


def _street_spans(text: str) -> list[tuple[int, int]]:
    """"12 đường Lê Lợi", "số 5 ngõ 3 phố Huế", "34/5 hẻm Bà Hom", "số 12 Nguyễn Huệ", "123/4A"."""
    spans = [m.span() for m in _HOUSE.finditer(text)]
    for match in _STREET.finditer(text):
        house = match.group("house")
        numbered = house is not None or match.group(0)[:1].isdigit() or match.group(0).lower().startswith("số")
        end, count = _street_name_end(text, match.end(), lower_case=numbered and house is None)
        if not count or house is not None and not (house.lower().startswith("số") or "/" in house
                                                   or fold(text[match.end():end].split()[0]) in SURNAMES):
            continue   # "qua đường bưu điện", "200 Đồng", "2 Năm": not an address
        spans.append((match.start(), end))
    return spans


def _street_name_end(text: str, start: int, lower_case: bool = False) -> tuple[int, int]:
    """The end of the street's name from ``start`` (capitalised words or numbers, at most 4; any
    words with ``lower_case``, as in "12 duong le loi"), and how many words it has; it stops at
    punctuation, a stop word or an administrative unit."""
    end, count = start, 0
    for word in _WORD.finditer(text, start):
        between, text_word = text[end:word.start()], word.group(0)
        if count and (re.search(r"[,.;!?()]", between) or _is(text_word, _STOP_WORDS)
                      or _is(text_word, _ADMIN_UNITS)
                      or not lower_case and _is(text_word, _PLACE_WORDS) and not _capitalised(text_word)):
            break
        if not (lower_case or _capitalised(text_word) or text_word.isdigit()):
            break
        end, count = word.end(), count + 1
        if count >= 4:
            break
    return end, count


def _replace_spans(text: str, spans: list[tuple[int, int]], value: str) -> str:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + value + text[end:]
    return text


def placeholders(text: object) -> str:
    """``text`` with personal data replaced by fixed fake values (idempotent).

    "Tôi là Trần Thị Bình, sđt 0912 345 678, CCCD 001090012345, ở 12 đường Lê Lợi" →
    "Tôi là Nguyễn Văn A, sđt 0900000000, CCCD 001000000000, ở số 1 đường A".
    """
    text = nfc(normalise_input(text))
    text = _CODE.sub(DOSSIER_CODE, text)
    text = _MASKED.sub(_masked, text)
    text = _NUMBER.sub(_number, text)
    text = _replace_spans(text, _cued_spans(text, _ADDRESS_CUE, True) + _street_spans(text), ADDRESS)
    text = _replace_spans(text, _cued_spans(text, _NAME_CUE, False) + _name_runs(text), NAME)
    return text


def group_key(text: object) -> str:
    """What two messages share when they are "the same question": placeholders, digits, diacritics,
    case, punctuation and spacing folded ("Làm hộ chiếu  mất bao lâu?" ~ "lam ho chieu mat bao lau")."""
    folded = fold(placeholders(text))
    folded = re.sub(r"[0-9]+", "0", folded)
    return " ".join(_WORD.findall(folded))

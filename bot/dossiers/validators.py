"""Answer validators for dossier form fields.

Each ``parse_x(text, **context)`` takes what the citizen typed and returns the
canonical value, or raises :class:`FieldError` whose ``message`` is a specific,
friendly Vietnamese explanation that the bot can send back as is.

Canonical values: names/addresses/text/choices → ``str``; dates → ``datetime.date``;
sex → ``"Nam"`` / ``"Nữ"``; personal id → 12-digit ``str``; phone → ``"0XXXXXXXXX"``.

Unknown keyword arguments are accepted and ignored, so a form can pass the same
context (``today``, ``birth_date``, ``sex`` …) to every parser.

Every parser first normalises what it is given with ``bot.textinput.normalise_input``
(fullwidth / Arabic-Indic digits → ASCII, invisible characters removed, any value → ``str``),
so it is safe on text that did not come through the bot app. "Today" is Vietnam's
(``bot.clock.today()``) unless ``today`` is passed. ID and phone numbers are read with
``masking.personal_number``, the grammar ``mask_numbers`` masks with.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Optional, Sequence

from bot import clock
from bot.textinput import normalise_input
from bot.vntext import fold, nfc

from .masking import personal_number

__all__ = [
    "FieldError", "PROVINCE_CODES", "EARLIEST_DATE",
    "parse_name", "parse_date", "parse_sex", "parse_personal_id", "parse_phone",
    "parse_text", "parse_address", "parse_choice", "format_date", "age_on",
]


class FieldError(ValueError):
    """An answer that cannot be accepted; ``message`` is Vietnamese, ready to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# First three digits of the personal identification number (số định danh cá nhân):
# the code of the province where the birth was registered. These are the 63 provincial
# codes in force before the July 2025 merger; numbers already issued keep them.
PROVINCE_CODES = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "TP Hồ Chí Minh", "080": "Long An",
    "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long",
    "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

EARLIEST_DATE = dt.date(1900, 1, 1)
MALE, FEMALE = "Nam", "Nữ"


def _today(today: Optional[dt.date]) -> dt.date:
    return today or clock.today()


def format_date(value: dt.date) -> str:
    """``date(1990, 3, 12)`` → ``"12/03/1990"`` (the format used on Vietnamese forms)."""
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def age_on(birth: dt.date, on: dt.date) -> int:
    """Full years between ``birth`` and ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _as_date(value) -> Optional[dt.date]:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# --- names -------------------------------------------------------------------------

_NAME_JOINERS = "'’-"


def _capitalise_word(word: str) -> str:
    # Capitalise each part of "h'hen" / "thị-mai" so that "H'Hen" keeps its shape.
    out, upper_next = [], True
    for ch in word:
        out.append(ch.upper() if upper_next else ch.lower())
        upper_next = ch in _NAME_JOINERS
    return "".join(out)


def parse_name(text: str, **_context) -> str:
    """Full name: NFC, single spaces, each word capitalised ("nguyễn  văn AN" → "Nguyễn Văn An")."""
    name = nfc(normalise_input(text)).replace("’", "'")
    if not name:
        raise FieldError("Bạn cho mình biết họ và tên đầy đủ nhé, ví dụ: Nguyễn Văn An.")
    if any(ch.isdigit() for ch in name):
        raise FieldError("Họ tên không được có chữ số. Bạn nhập lại họ, chữ đệm và tên, "
                         "ví dụ: Nguyễn Văn An.")
    bad = [ch for ch in name if not (ch.isalpha() or ch == " " or ch in _NAME_JOINERS
                                     or unicodedata.category(ch) == "Mn")]
    if bad:
        shown = " ".join(dict.fromkeys(bad))
        raise FieldError(f"Họ tên chỉ gồm chữ cái và dấu cách, không có ký tự {shown}. "
                         "Bạn nhập lại giúp mình nhé.")
    words = name.split(" ")
    if len(words) < 2:
        raise FieldError("Bạn ghi đầy đủ cả họ và tên (ít nhất hai chữ), ví dụ: Nguyễn Văn An.")
    if len(name) > 100:
        raise FieldError("Họ tên dài quá 100 ký tự — bạn kiểm tra lại giúp mình nhé.")
    return " ".join(_capitalise_word(w) for w in words)


# --- dates -------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"^(?:ngay\s*)?([0-9]{1,2})"
    r"\s*(?:[/.\-]|thang)\s*([0-9]{1,2})"
    r"\s*(?:[/.\-]|nam)\s*([0-9]+)$", re.ASCII
)
_ISO_RE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$", re.ASCII)
_DATE_EXAMPLE = "ví dụ 12/03/1990 hoặc 12 tháng 3 năm 1990"


def _date_parts(text: str) -> tuple[int, int, int]:
    folded = fold(normalise_input(text)).rstrip(".")
    iso = _ISO_RE.match(folded)
    if iso:
        return int(iso.group(3)), int(iso.group(2)), int(iso.group(1))
    match = _DATE_RE.match(folded)
    if not match:
        raise FieldError(f"Mình chưa đọc được ngày này. Bạn ghi theo dạng ngày/tháng/năm, {_DATE_EXAMPLE}.")
    day, month, year = match.groups()
    if len(year) != 4:
        raise FieldError(f"Bạn ghi năm đủ 4 chữ số giúp mình ({_DATE_EXAMPLE}).")
    return int(day), int(month), int(year)


def _days_in_month(month: int, year: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def parse_date(text: str, today: Optional[dt.date] = None, min_age: Optional[int] = None,
               min_age_reason: Optional[str] = None, birth_date=None, **_context) -> dt.date:
    """A past date written day-first: "12/3/1990", "12-03-1990", "ngày 12 tháng 03 năm 1990" …

    ``min_age``: the person born on that date must be at least that old today
    (``min_age_reason`` says why, e.g. "để đăng ký kết hôn"). ``birth_date``: for the date
    of an event in someone's life (a passport issued …), that person's birth date.
    """
    day, month, year = _date_parts(text)
    if not 1 <= month <= 12:
        raise FieldError(f"Tháng {month} không có thật — tháng chỉ từ 1 đến 12. "
                         "Bạn ghi theo thứ tự ngày/tháng/năm nhé.")
    if year < EARLIEST_DATE.year:
        raise FieldError(f"Năm {year} có vẻ chưa đúng: ngày này phải từ năm {EARLIEST_DATE.year} "
                         "trở đi. Bạn kiểm tra lại giúp mình.")
    last = _days_in_month(month, year)
    if not 1 <= day <= last:
        raise FieldError(f"Ngày {day:02d}/{month:02d}/{year} không có thật: tháng {month} năm {year} "
                         f"chỉ có {last} ngày.")
    value = dt.date(year, month, day)
    now = _today(today)
    if value > now:
        raise FieldError(f"Ngày {format_date(value)} còn ở tương lai. Bạn kiểm tra lại giúp mình.")
    earliest = _as_date(birth_date)
    if earliest is not None and value < earliest:
        raise FieldError(f"Ngày {format_date(value)} lại trước ngày sinh ({format_date(earliest)}). "
                         "Bạn kiểm tra lại giúp mình.")
    if min_age is not None and age_on(value, now) < min_age:
        reason = f" {min_age_reason}" if min_age_reason else ""
        raise FieldError(f"Người sinh ngày {format_date(value)} mới {age_on(value, now)} tuổi; "
                         f"cần từ đủ {min_age} tuổi trở lên{reason}.")
    return value


# --- sex -----------------------------------------------------------------------------

_SEX_WORDS = {
    MALE: {"nam", "nam gioi", "gioi tinh nam", "trai", "con trai", "be trai", "dan ong",
           "m", "male", "man", "boy"},
    FEMALE: {"nu", "nu gioi", "gioi tinh nu", "gai", "con gai", "be gai", "dan ba", "phu nu",
             "f", "female", "woman", "girl"},
}


def parse_sex(text: str, **_context) -> str:
    """"nam", "Nữ", "nu", "male", "con gái" … → ``"Nam"`` or ``"Nữ"``."""
    key = re.sub(r"[^a-z ]", "", fold(normalise_input(text))).strip()
    for value, words in _SEX_WORDS.items():
        if key in words:
            return value
    raise FieldError("Bạn trả lời “nam” hoặc “nữ” giúp mình nhé.")


# --- personal identification number ---------------------------------------------------

# 4th digit: (century start, sex). Even = male, odd = female.
_CENTURY_SEX = {str(d): (1900 + 100 * (d // 2), MALE if d % 2 == 0 else FEMALE) for d in range(10)}


def _id_digits(text: str) -> str:
    digits = personal_number(text) or ""
    if not digits.isdigit():
        raise FieldError("Số định danh cá nhân chỉ gồm 12 chữ số (in trên thẻ căn cước), "
                         "không có chữ cái hay ký tự khác.")
    if len(digits) != 12:
        hint = " Số chứng minh nhân dân cũ (9 chữ số) không dùng được ở đây." if len(digits) == 9 else ""
        raise FieldError(f"Số định danh cá nhân phải có đúng 12 chữ số; số bạn nhập có {len(digits)} "
                         f"chữ số.{hint}")
    return digits


def parse_personal_id(text: str, birth_date=None, sex: Optional[str] = None, **_context) -> str:
    """12-digit personal id, checked against ``birth_date`` and ``sex`` when they are known."""
    digits = _id_digits(text)
    if digits[:3] not in PROVINCE_CODES:
        raise FieldError(f"3 chữ số đầu ({digits[:3]}) phải là mã tỉnh nơi đăng ký khai sinh "
                         "(ví dụ 001 Hà Nội, 079 TP Hồ Chí Minh); mã này không có. "
                         "Bạn xem lại số trên thẻ căn cước nhé.")
    century, id_sex = _CENTURY_SEX[digits[3]]
    year = century + int(digits[4:6])
    birth = _as_date(birth_date)
    if birth is not None and birth.year != year:
        raise FieldError(f"Số định danh này ứng với năm sinh {year}, nhưng ngày sinh bạn khai là "
                         f"{format_date(birth)}. Chữ số thứ 4 (thế kỷ) và chữ số thứ 5–6 (năm sinh) "
                         "phải khớp — bạn kiểm tra lại số hoặc ngày sinh nhé.")
    if sex in (MALE, FEMALE) and sex != id_sex:
        raise FieldError(f"Chữ số thứ 4 của số định danh ({digits[3]}) là mã của giới tính {id_sex.lower()}, "
                         f"nhưng giới tính bạn khai là {sex.lower()}. Bạn kiểm tra lại giúp mình.")
    return digits


# --- phone ---------------------------------------------------------------------------

_MOBILE_PREFIXES = "35789"


def parse_phone(text: str, **_context) -> str:
    """Vietnamese mobile number → ``"0XXXXXXXXX"`` (accepts +84 / 84, spaces, dots, dashes)."""
    number = personal_number(text)
    raw = number or re.sub(r"[\s.\-()]", "", normalise_input(text))
    if raw.startswith("+"):
        if not raw.startswith("+84"):
            raise FieldError("Mình chỉ nhận số di động Việt Nam (mã +84), ví dụ 0912 345 678.")
        raw = raw[1:]
    if number is None or not (raw.isascii() and raw.isdigit()):
        raise FieldError("Số điện thoại chỉ gồm chữ số (có thể có dấu cách, dấu chấm hoặc gạch ngang), "
                         "ví dụ 0912 345 678.")
    if raw.startswith("84") and len(raw) in (11, 12):
        # "84 912 345 678" or "84 (0) 912 345 678" → "0912345678"
        raw = "0" + raw[2:].removeprefix("0")
    if not raw.startswith("0"):
        raise FieldError("Số di động Việt Nam bắt đầu bằng số 0 (hoặc +84), ví dụ 0912 345 678. "
                         "Có thể bạn thiếu số 0 ở đầu?")
    if raw.startswith("02"):
        raise FieldError("Đây có vẻ là số máy bàn (bắt đầu bằng 02). Bạn cho mình số di động để "
                         "cơ quan nhắn tin báo kết quả nhé.")
    if len(raw) != 10:
        raise FieldError(f"Số di động Việt Nam có 10 chữ số (ví dụ 0912 345 678); số bạn nhập có "
                         f"{len(raw)} chữ số.")
    if raw[1] not in _MOBILE_PREFIXES:
        raise FieldError("Số di động Việt Nam bắt đầu bằng 03, 05, 07, 08 hoặc 09. "
                         "Bạn kiểm tra lại giúp mình.")
    return raw


# --- email -----------------------------------------------------------------------------------

# local part: the usual unquoted characters; domain: labels of letters, digits and hyphens, a TLD
# of 2+ letters. Quoted local parts and IP-literal domains are not accepted (no citizen types them).
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                    r"[A-Za-z]{2,24}$", re.ASCII)


def parse_email(text: str, **_context) -> str:
    """An email address ("Lan.Nguyen@Gmail.com" → "Lan.Nguyen@gmail.com": the domain lower-cased)."""
    value = normalise_input(text).strip().strip("<>.,;")
    if "@" not in value:
        raise FieldError("Địa chỉ email có dạng ten@vidu.com (có dấu @). Nếu không có email, bạn nhắn "
                         "“bỏ qua” nhé.")
    local, _, domain = value.rpartition("@")
    value = f"{local}@{domain.lower()}"
    if len(value) > 254 or not _EMAIL.match(value) or ".." in value or local.startswith(".") or local.endswith("."):
        raise FieldError("Địa chỉ email chưa đúng. Email có dạng ten@vidu.com, không có dấu tiếng Việt "
                         "hay khoảng trắng. Bạn kiểm tra lại giúp mình, hoặc nhắn “bỏ qua” nếu không có.")
    return value


# --- free text, addresses, choices ---------------------------------------------------------

def parse_text(text: str, max_length: int = 200, **_context) -> str:
    """Any non-empty text (NFC, single spaces), at most ``max_length`` characters."""
    value = nfc(normalise_input(text))
    if not value:
        raise FieldError("Bạn chưa nhập gì. Bạn trả lời giúp mình nhé.")
    if len(value) > max_length:
        raise FieldError(f"Câu trả lời dài quá {max_length} ký tự; bạn ghi ngắn gọn lại giúp mình.")
    return value


def parse_address(text: str, max_length: int = 250, **_context) -> str:
    """An address precise enough for a form: at least three words, with letters."""
    value = parse_text(text, max_length=max_length)
    if len(value.replace(",", " ").split()) < 3 or not any(ch.isalpha() for ch in value):
        raise FieldError("Địa chỉ chưa đủ rõ. Bạn ghi đầy đủ: số nhà/thôn, xã/phường, tỉnh/thành phố "
                         "(ví dụ: Số 5 ngõ 12 Trần Phú, phường Ba Đình, Hà Nội).")
    return value


def parse_choice(text: str, choices: Sequence[str] = (), **_context) -> str:
    """One of ``choices``: by number ("2"), by exact text, or by a unique part of it (no accents needed)."""
    key = fold(normalise_input(text)).strip(" .")
    options = list(choices)
    if key.isascii() and key.isdigit() and 1 <= int(key) <= len(options):
        return options[int(key) - 1]
    folded = [fold(c) for c in options]
    if key in folded:
        return options[folded.index(key)]
    hits = [c for c, f in zip(options, folded) if key and re.search(rf"\b{re.escape(key)}\b", f)]
    if len(hits) == 1:
        return hits[0]
    listed = "; ".join(f"{i}. {c}" for i, c in enumerate(options, 1))
    raise FieldError(f"Bạn chọn một trong các mục sau (gõ số hoặc nội dung): {listed}.")

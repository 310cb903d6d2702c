"""Office hours of the volunteer desk (tổ tư vấn): the ``OFFICE_HOURS`` setting.

Format (case-insensitive, spaces anywhere are ignored)::

    always
    T2-T6 07:30-11:30,13:30-17:00
    T2-T6 07:30-11:30, 13:30-17:00; T7 07:30-11:30
    T2-T4,T6 08:00-12:00; CN 08:00-10:00

* ``always`` — open around the clock, every day, public holidays included.
* Otherwise one or more groups separated by ``;``, each ``DAYS TIMES``:

  - DAYS: ``T2`` … ``T7`` (Monday … Saturday) and ``CN`` (Sunday); a range ``T2-T6``
    (earlier day first, the week runs T2 … T7, CN, so ``T7-CN`` is valid and ``CN-T2``
    is not), a list ``T2,T4,T6``, or both ``T2-T4,T6``.
  - TIMES: comma-separated ``HH:MM-HH:MM`` ranges, the end after the start; ``24:00`` is
    allowed as an end. A range includes its start and excludes its end (open at 07:30,
    closed at 11:30).

  A day may appear in several groups; its ranges are then combined.

All times are Vietnam time (:data:`bot.clock.VN_TZ`); aware datetimes in any zone are
converted. Public holidays of ``bot/dossiers/holidays.yml`` are closed whole-day unless
the setting is ``always``. Weekends are not special: the DAYS decide (a Saturday listed
in the setting is open, the *làm bù* Saturdays of the holiday file change nothing).

A bad setting raises :class:`ValueError` naming the faulty part, e.g.
``OFFICE_HOURS: unknown day 'T8' in 'T8 07:30-11:30'; days are T2 … T7 and CN (…)``.
:meth:`OfficeHours.describe` and :meth:`OfficeHours.closed_message` are the Vietnamese
texts for citizens::

    >>> OfficeHours.parse("T2-T6 07:30-11:30").describe()
    'Thứ Hai – Thứ Sáu: 07:30–11:30 (trừ ngày lễ)'
    >>> OfficeHours.parse("T2-T6 07:30-11:30").is_open(
    ...     dt.datetime(2026, 12, 7, 0, 30, tzinfo=dt.timezone.utc))   # 07:30 in Vietnam
    True
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Optional

from bot import clock
from bot.dossiers.workdays import Calendar, default_calendar, holiday_name

__all__ = ["OfficeHours", "LOOKAHEAD_DAYS"]

LOOKAHEAD_DAYS = 60      # next_opening() gives up after this many days
_DAY_MINUTES = 24 * 60

# Index = date.weekday(): 0 Monday … 6 Sunday.
_DAY_CODES = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")
_DAY_NAMES = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
_EXAMPLE = "'T2-T6 07:30-11:30,13:30-17:00' or 'always'"

_TIME_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
_FIRST_TIME = re.compile(r"\d{1,2}:")
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-"})

Range = tuple[int, int]                 # minutes after midnight, [start, end)


def _error(message: str) -> ValueError:
    return ValueError(f"OFFICE_HOURS: {message} (expected e.g. {_EXAMPLE})")


def _parse_day(code: str, group: str) -> int:
    try:
        return _DAY_CODES.index(code.upper())
    except ValueError:
        raise _error(f"unknown day {code!r} in {group!r}; days are T2 … T7 and CN") from None


def _parse_days(text: str, group: str) -> tuple[int, ...]:
    compact = re.sub(r"\s+", "", text)
    if not compact:
        raise _error(f"no days before the times in {group!r}")
    days: set[int] = set()
    for item in compact.split(","):
        if not item:
            raise _error(f"empty day in {text.strip()!r} of {group!r}")
        first, sep, last = item.partition("-")
        if not sep:
            days.add(_parse_day(item, group))
            continue
        start, end = _parse_day(first, group), _parse_day(last, group)
        if end < start:
            raise _error(f"day range {item!r} in {group!r} must go forward in the week "
                         "T2 … T7, CN (e.g. 'T2-T6', 'T7-CN')")
        days.update(range(start, end + 1))
    return tuple(sorted(days))


def _parse_minutes(hours: str, minutes: str, item: str, group: str, *, end: bool) -> int:
    h, m = int(hours), int(minutes)
    if end and (h, m) == (24, 0):
        return _DAY_MINUTES
    if h > 23 or m > 59:
        hint = " (24:00 is only allowed as an end)" if h == 24 else ""
        raise _error(f"invalid time {hours}:{minutes} in {item!r} of {group!r}{hint}")
    return h * 60 + m


def _parse_times(text: str, group: str) -> tuple[Range, ...]:
    ranges: list[Range] = []
    for item in re.sub(r"\s+", "", text).split(","):
        if not item:
            raise _error(f"empty time range in {group!r}")
        match = _TIME_RANGE.fullmatch(item)
        if not match:
            hint = " and separate groups with ';'" if re.search(r"[a-z]", item, re.I) else ""
            raise _error(f"bad time range {item!r} in {group!r}; write HH:MM-HH:MM{hint}")
        start = _parse_minutes(match[1], match[2], item, group, end=False)
        end = _parse_minutes(match[3], match[4], item, group, end=True)
        if end <= start:
            raise _error(f"time range {item!r} in {group!r} must end after it starts")
        ranges.append((start, end))
    return tuple(sorted(ranges))


def _merge(ranges: list[Range]) -> tuple[Range, ...]:
    """Sorted ranges with overlapping or touching ones joined."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_days(days: tuple[int, ...]) -> str:
    """``Thứ Hai – Thứ Sáu``, ``Thứ Hai, Thứ Tư``: runs of three days or more as ranges."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{_DAY_NAMES[run[0]]} – {_DAY_NAMES[run[-1]]}")
        else:
            parts.extend(_DAY_NAMES[day] for day in run)
    return ", ".join(parts)


def _to_vn(when: Optional[dt.datetime]) -> dt.datetime:
    if when is None:
        return clock.now()
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("office hours need an aware datetime (with a time zone)")
    return when.astimezone(clock.VN_TZ)


@dataclass(frozen=True)
class OfficeHours:
    """Parsed ``OFFICE_HOURS``; build it with :meth:`parse`.

    ``groups`` keeps the setting's groups (days as weekday numbers 0 = Monday … 6 = Sunday,
    ranges in minutes after midnight) for :meth:`describe`; ``windows`` has, per weekday,
    the combined open ranges.
    """

    always: bool
    groups: tuple[tuple[tuple[int, ...], tuple[Range, ...]], ...] = ()
    windows: tuple[tuple[Range, ...], ...] = ((),) * 7
    calendar: Optional[Calendar] = field(default=None, compare=False, repr=False)

    # ---- building -------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str, calendar: Optional[Calendar] = None) -> "OfficeHours":
        """Parse the setting; ``calendar`` defaults to the project's holiday calendar."""
        if spec is None or not str(spec).strip():
            raise _error("the setting is empty")
        text = str(spec).translate(_DASHES).strip()
        if text.lower() == "always":
            return cls(always=True, calendar=calendar)
        groups = []
        per_day: list[list[Range]] = [[] for _ in range(7)]
        for raw in text.split(";"):
            group = raw.strip()
            if not group:
                continue                      # tolerate a trailing or doubled ';'
            if group.lower() == "always":
                raise _error("'always' cannot be combined with other groups")
            first_time = _FIRST_TIME.search(group)
            if first_time is None:
                raise _error(f"no times in {group!r}")
            days = _parse_days(group[:first_time.start()], group)
            ranges = _parse_times(group[first_time.start():], group)
            groups.append((days, ranges))
            for day in days:
                per_day[day].extend(ranges)
        if not groups:
            raise _error("the setting has no groups")
        return cls(always=False, groups=tuple(groups),
                   windows=tuple(_merge(ranges) for ranges in per_day), calendar=calendar)

    # ---- questions ------------------------------------------------------------------------
    def _calendar(self) -> Calendar:
        return self.calendar or default_calendar()

    def holiday(self, when: Optional[dt.datetime] = None) -> Optional[str]:
        """The name of the public holiday on ``when``'s day (Vietnam), ``None`` if none.

        With ``always`` holidays do not close the desk, but are still reported here.
        """
        return holiday_name(_to_vn(when).date(), self._calendar())

    def _open_on(self, day: dt.date) -> tuple[Range, ...]:
        if holiday_name(day, self._calendar()):
            return ()
        return self.windows[day.weekday()]

    def is_open(self, when: Optional[dt.datetime] = None) -> bool:
        """Whether the desk is open at ``when`` (aware; default: now)."""
        vn = _to_vn(when)
        if self.always:
            return True
        minute = vn.hour * 60 + vn.minute
        return any(start <= minute < end for start, end in self._open_on(vn.date()))

    def next_opening(self, when: Optional[dt.datetime] = None) -> Optional[dt.datetime]:
        """The next moment after ``when`` at which the desk opens, in Vietnam time.

        Closed at ``when``: when it opens. Open at ``when``: when it reopens after the
        current opening ends. ``None`` with ``always`` or when nothing opens within
        :data:`LOOKAHEAD_DAYS` days. Holidays are skipped.
        """
        vn = _to_vn(when)
        if self.always:
            return None
        today = vn.date()
        previous = self._open_on(today - dt.timedelta(days=1))
        for offset in range(LOOKAHEAD_DAYS + 1):
            day = today + dt.timedelta(days=offset)
            ranges = self._open_on(day)
            for start, _end in ranges:
                if start == 0 and previous and previous[-1][1] == _DAY_MINUTES:
                    continue                  # open through midnight: not an opening
                opening = dt.datetime.combine(day, dt.time(start // 60, start % 60),
                                              tzinfo=clock.VN_TZ)
                if opening > vn:
                    return opening
            previous = ranges
        return None

    # ---- texts for citizens (Vietnamese) --------------------------------------------------
    def _hours_text(self) -> str:
        return "; ".join(
            f"{_describe_days(days)}: " + ", ".join(f"{_hhmm(s)}–{_hhmm(e)}" for s, e in ranges)
            for days, ranges in self.groups)

    def describe(self) -> str:
        """The hours in Vietnamese, e.g. ``Thứ Hai – Thứ Sáu: 07:30–11:30, 13:30–17:00 (trừ ngày lễ)``."""
        if self.always:
            return "cả ngày, mọi ngày trong tuần"
        return f"{self._hours_text()} (trừ ngày lễ)"

    def closed_message(self, when: Optional[dt.datetime] = None) -> str:
        """What the bot tells a citizen outside office hours; ``""`` while the desk is open."""
        vn = _to_vn(when)
        if self.is_open(vn):
            return ""
        holiday = self.holiday(vn)
        if holiday:
            first = f"Hôm nay là ngày nghỉ lễ ({holiday})."
        else:
            first = ("Hiện đang ngoài giờ làm việc của tổ tư vấn "
                     f"({self._hours_text()}, trừ ngày lễ).")
        opening = self.next_opening(vn)
        if opening is None:
            return first
        return (f"{first} Tổ tư vấn sẽ làm việc lại lúc {opening:%H:%M} "
                f"{_DAY_NAMES[opening.weekday()]} {opening:%d/%m/%Y}.")

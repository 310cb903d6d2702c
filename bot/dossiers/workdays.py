"""Working days (ngày làm việc) of Vietnamese state agencies: no weekends, no public holidays.

The holidays and the Saturdays worked to make up a swapped day live in ``holidays.yml``
next to this module. Outside the years that file covers, only weekends are skipped
(a warning is logged once).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

__all__ = ["Calendar", "HOLIDAYS_FILE", "load_calendar", "default_calendar",
           "is_working_day", "add_working_days", "holiday_name"]

log = logging.getLogger(__name__)
HOLIDAYS_FILE = Path(__file__).with_name("holidays.yml")


@dataclass(frozen=True)
class Calendar:
    holidays: dict            # date → Vietnamese name
    working_weekends: dict    # date → reason
    covered_years: frozenset

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``start`` (``start`` itself is not counted)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day = start
        for _ in range(n):
            day += dt.timedelta(days=1)
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
        self._warn_if_uncovered(start, day)
        return day

    def _warn_if_uncovered(self, start: dt.date, end: dt.date) -> None:
        missing = sorted(set(range(start.year, end.year + 1)) - self.covered_years)
        if missing:
            _warn_once(tuple(missing))


@functools.lru_cache(maxsize=None)
def _warn_once(years: tuple) -> None:
    log.warning("holidays.yml does not cover %s: only weekends are skipped", years)


def load_calendar(path: Path | str = HOLIDAYS_FILE) -> Calendar:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Calendar(
        holidays={h["date"]: h["name"] for h in raw.get("holidays") or ()},
        working_weekends={h["date"]: h["name"] for h in raw.get("working_weekends") or ()},
        covered_years=frozenset(raw.get("covered_years") or ()),
    )


@functools.lru_cache(maxsize=1)
def default_calendar() -> Calendar:
    return load_calendar(HOLIDAYS_FILE)


def is_working_day(day: dt.date, calendar: Optional[Calendar] = None) -> bool:
    return (calendar or default_calendar()).is_working_day(day)


def add_working_days(start_date: dt.date, n: int, calendar: Optional[Calendar] = None) -> dt.date:
    """Deadline ``n`` working days after ``start_date``, skipping weekends and holidays.

    >>> add_working_days(dt.date(2026, 2, 12), 8)   # submitted the Thursday before Tết 2026
    datetime.date(2026, 3, 3)
    """
    return (calendar or default_calendar()).add_working_days(start_date, n)


def holiday_name(day: dt.date, calendar: Optional[Calendar] = None) -> Optional[str]:
    """The holiday's Vietnamese name if ``day`` is a listed holiday."""
    return (calendar or default_calendar()).holidays.get(day)

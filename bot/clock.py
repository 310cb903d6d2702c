"""One clock for the whole project, in Vietnam's time (``Asia/Ho_Chi_Minh``, UTC+7, no DST).

Every "today" (validators, checklists, conditions, forms, PDF, expected dates) comes from
here, never from ``date.today()``: a server in UTC would be a day behind from 00:00 to 07:00
in Vietnam, and working days with it. Tests freeze it::

    from bot import clock
    with clock.frozen(dt.datetime(2026, 3, 2, 0, 30, tzinfo=clock.VN_TZ)):
        clock.today()   # 2026-03-02
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Callable, Iterator

try:
    from zoneinfo import ZoneInfo

    VN_TZ: dt.tzinfo = ZoneInfo("Asia/Ho_Chi_Minh")
except Exception:  # noqa: BLE001 — no tz database on the machine: Vietnam is UTC+7 all year
    VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")

__all__ = ["VN_TZ", "now", "today", "utcnow", "frozen", "set_clock"]


def _system_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


_source: Callable[[], dt.datetime] = _system_now


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return _source().astimezone(dt.timezone.utc)


def now() -> dt.datetime:
    """The current time, aware, in Vietnam."""
    return _source().astimezone(VN_TZ)


def today() -> dt.date:
    """Today's date in Vietnam."""
    return now().date()


def set_clock(source: Callable[[], dt.datetime] | None) -> None:
    """Replace the clock (a function returning an aware datetime); ``None`` restores the system's."""
    global _source
    _source = source or _system_now


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    """Within the block the clock reads ``at`` (aware)."""
    if at.tzinfo is None:
        raise ValueError("frozen() needs an aware datetime")
    previous = _source
    set_clock(lambda: at)
    try:
        yield
    finally:
        set_clock(previous)

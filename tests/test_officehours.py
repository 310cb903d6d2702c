"""Office hours of the volunteer desk (setting OFFICE_HOURS): parsing, open/closed, texts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot import clock
from bot.dossiers.workdays import Calendar, holiday_name
from bot.handover.officehours import LOOKAHEAD_DAYS, OfficeHours

WEEKDAYS = "T2-T6 07:30-11:30,13:30-17:00"
UTC = dt.timezone.utc


def vn(year, month, day, hour=0, minute=0, second=0):
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=clock.VN_TZ)


@pytest.fixture
def hours():
    return OfficeHours.parse(WEEKDAYS)


# ---- parsing ------------------------------------------------------------------------------

def test_parse_weekdays_two_ranges():
    hours = OfficeHours.parse(WEEKDAYS)
    assert not hours.always
    assert hours.groups == (((0, 1, 2, 3, 4), ((450, 690), (810, 1020))),)
    assert hours.windows[:5] == (((450, 690), (810, 1020)),) * 5
    assert hours.windows[5:] == ((), ())


def test_parse_is_whitespace_tolerant_and_case_insensitive():
    messy = OfficeHours.parse("  t2 - t6   07:30 - 11:30 ,  13:30-17:00 ")
    assert messy == OfficeHours.parse(WEEKDAYS)
    assert OfficeHours.parse("T2-T6 07:30-11:30, 13:30-17:00") == OfficeHours.parse(WEEKDAYS)


def test_parse_accepts_en_dashes_copied_from_describe():
    assert OfficeHours.parse("T2–T6 07:30–11:30, 13:30–17:00") == OfficeHours.parse(WEEKDAYS)


def test_parse_day_list_and_combination():
    assert OfficeHours.parse("T2,T4,T6 08:00-12:00").groups[0][0] == (0, 2, 4)
    assert OfficeHours.parse("T2-T4,T6 08:00-12:00").groups[0][0] == (0, 1, 2, 4)
    assert OfficeHours.parse("cn,T7 08:00-12:00").groups[0][0] == (5, 6)
    assert OfficeHours.parse("T7-CN 08:00-12:00").groups[0][0] == (5, 6)
    assert OfficeHours.parse("T3-T3 08:00-12:00").groups[0][0] == (1,)


def test_parse_several_groups_combine_per_day():
    hours = OfficeHours.parse("T2-T6 07:30-11:30,13:30-17:00; T7 07:30-11:30; T2 11:00-12:00;")
    assert len(hours.groups) == 3
    assert hours.windows[0] == ((450, 720), (810, 1020))     # 07:30-11:30 + 11:00-12:00 joined
    assert hours.windows[1] == ((450, 690), (810, 1020))
    assert hours.windows[5] == ((450, 690),)
    assert hours.windows[6] == ()


def test_touching_ranges_are_one_opening():
    hours = OfficeHours.parse("T2 07:30-11:30,11:30-17:00")
    assert hours.windows[0] == ((450, 1020),)
    assert hours.next_opening(vn(2026, 12, 7, 8, 0)) == vn(2026, 12, 14, 7, 30)


def test_parse_24_00_as_end():
    hours = OfficeHours.parse("CN 20:00-24:00")
    assert hours.windows[6] == ((1200, 1440),)
    assert hours.is_open(vn(2026, 12, 6, 23, 59, 59))
    assert not hours.is_open(vn(2026, 12, 7, 0, 0))


@pytest.mark.parametrize("spec", ["always", " ALWAYS ", "Always"])
def test_parse_always(spec):
    hours = OfficeHours.parse(spec)
    assert hours.always
    assert hours.is_open(vn(2026, 12, 6, 3, 0))


@pytest.mark.parametrize("spec, names", [
    ("", "empty"),
    ("   ", "empty"),
    (";", "no groups"),
    ("T8 07:30-11:30", "'T8'"),
    ("T1 07:30-11:30", "'T1'"),
    ("Mon-Fri 07:30-11:30", "'Mon'"),
    ("T6-T2 07:30-11:30", "'T6-T2'"),
    ("CN-T2 07:30-11:30", "'CN-T2'"),
    ("T2,,T4 07:30-11:30", "empty day"),
    ("T2-T6", "no times in 'T2-T6'"),
    ("07:30-11:30", "no days"),
    ("T2-T6 07:30", "'07:30'"),
    ("T2-T6 0730-1130", "no times"),
    ("T2-T6 07:30-11:30,", "empty time range"),
    ("T2-T6 11:30-07:30", "'11:30-07:30'"),
    ("T2-T6 07:30-07:30", "'07:30-07:30'"),
    ("T2-T6 25:00-26:00", "25:00"),
    ("T2-T6 07:60-08:00", "07:60"),
    ("T2-T6 24:00-24:00", "24:00 is only allowed as an end"),
    ("T2-T6 07:30-24:30", "24:30"),
    ("T2-T6 07:30-11:30 T7 08:00-09:00", "separate groups with ';'"),
    ("always; T7 08:00-09:00", "'always' cannot be combined"),
])
def test_parse_errors_name_the_bad_part(spec, names):
    with pytest.raises(ValueError) as error:
        OfficeHours.parse(spec)
    message = str(error.value)
    assert message.startswith("OFFICE_HOURS: ")
    assert names in message


# ---- open / closed ------------------------------------------------------------------------

@pytest.mark.parametrize("hour, minute, second, is_open", [
    (0, 0, 0, False),
    (7, 29, 0, False),
    (7, 29, 59, False),
    (7, 30, 0, True),
    (9, 0, 0, True),
    (11, 29, 59, True),
    (11, 30, 0, False),
    (12, 15, 0, False),       # lunch
    (13, 29, 0, False),
    (13, 30, 0, True),
    (16, 59, 0, True),
    (17, 0, 0, False),
    (23, 59, 0, False),
])
def test_is_open_boundaries_on_a_monday(hours, hour, minute, second, is_open):
    assert hours.is_open(vn(2026, 12, 7, hour, minute, second)) is is_open


def test_weekend_closed_unless_listed(hours):
    assert not hours.is_open(vn(2026, 12, 5, 9, 0))          # Saturday
    assert not hours.is_open(vn(2026, 12, 6, 9, 0))          # Sunday
    with_saturday = OfficeHours.parse(WEEKDAYS + "; T7 07:30-11:30")
    assert with_saturday.is_open(vn(2026, 12, 5, 9, 0))
    assert not with_saturday.is_open(vn(2026, 12, 5, 14, 0))
    assert not with_saturday.is_open(vn(2026, 12, 6, 9, 0))
    sunday_only = OfficeHours.parse("CN 08:00-10:00")
    assert sunday_only.is_open(vn(2026, 12, 6, 9, 0))
    assert not sunday_only.is_open(vn(2026, 12, 7, 9, 0))


def test_public_holiday_closed_except_always(hours):
    new_year = dt.date(2026, 1, 1)                            # a Thursday
    assert holiday_name(new_year) == "Tết Dương lịch"
    assert not hours.is_open(vn(2026, 1, 1, 9, 0))
    assert not hours.is_open(vn(2026, 2, 17, 9, 0))          # Tết Nguyên đán (Tuesday)
    assert hours.is_open(vn(2025, 12, 31, 9, 0))             # the working day before
    assert hours.holiday(vn(2026, 1, 1, 9, 0)) == "Tết Dương lịch"
    assert hours.holiday(vn(2025, 12, 31, 9, 0)) is None
    assert OfficeHours.parse("always").is_open(vn(2026, 1, 1, 9, 0))


def test_make_up_saturday_of_holiday_file_does_not_open_the_desk(hours):
    # 10/01/2026 is a làm bù Saturday for state agencies: only OFFICE_HOURS decides the days
    assert not hours.is_open(vn(2026, 1, 10, 9, 0))


def test_custom_calendar():
    calendar = Calendar(holidays={dt.date(2026, 12, 7): "Ngày thử"}, working_weekends={},
                        covered_years=frozenset({2026}))
    hours = OfficeHours.parse(WEEKDAYS, calendar=calendar)
    assert not hours.is_open(vn(2026, 12, 7, 9, 0))
    assert hours.is_open(vn(2026, 1, 1, 9, 0))               # not a holiday of this calendar
    assert hours == OfficeHours.parse(WEEKDAYS)              # the calendar is not compared


def test_timezone_conversion(hours):
    assert hours.is_open(dt.datetime(2026, 12, 7, 0, 30, tzinfo=UTC))       # 07:30 in Vietnam
    assert not hours.is_open(dt.datetime(2026, 12, 7, 0, 29, tzinfo=UTC))   # 07:29
    assert not hours.is_open(dt.datetime(2026, 12, 7, 5, 0, tzinfo=UTC))    # 12:00, lunch
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert hours.is_open(dt.datetime(2026, 12, 7, 9, 30, tzinfo=tokyo))     # 07:30 in Vietnam
    # Sunday evening in UTC is already Monday in Vietnam
    night = OfficeHours.parse("T2 00:00-08:00")
    assert night.is_open(dt.datetime(2026, 12, 6, 17, 30, tzinfo=UTC))
    assert not night.is_open(dt.datetime(2026, 12, 6, 16, 30, tzinfo=UTC))


def test_naive_datetime_is_refused(hours):
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(dt.datetime(2026, 12, 7, 9, 0))


def test_default_time_is_the_project_clock(hours):
    with clock.frozen(dt.datetime(2026, 12, 7, 2, 0, tzinfo=UTC)):           # 09:00 Monday
        assert hours.is_open()
        assert hours.next_opening() == vn(2026, 12, 7, 13, 30)
    with clock.frozen(dt.datetime(2026, 12, 7, 5, 0, tzinfo=UTC)):           # 12:00 Monday
        assert not hours.is_open()
        assert hours.closed_message() != ""


# ---- next opening -------------------------------------------------------------------------

def test_next_opening_same_day(hours):
    assert hours.next_opening(vn(2026, 12, 7, 6, 0)) == vn(2026, 12, 7, 7, 30)
    assert hours.next_opening(vn(2026, 12, 7, 12, 0)) == vn(2026, 12, 7, 13, 30)
    # while open: when it reopens after the current opening
    assert hours.next_opening(vn(2026, 12, 7, 7, 30)) == vn(2026, 12, 7, 13, 30)
    assert hours.next_opening(vn(2026, 12, 7, 17, 0)) == vn(2026, 12, 8, 7, 30)


def test_next_opening_over_a_weekend(hours):
    opening = hours.next_opening(vn(2026, 12, 4, 17, 0))     # Friday evening
    assert opening == vn(2026, 12, 7, 7, 30)                 # Monday
    assert opening.utcoffset() == dt.timedelta(hours=7)
    assert hours.next_opening(vn(2026, 12, 5, 10, 0)) == vn(2026, 12, 7, 7, 30)


def test_next_opening_from_utc_is_in_vietnam_time(hours):
    opening = hours.next_opening(dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC))   # Fri 19:00 VN
    assert opening == vn(2026, 12, 7, 7, 30)
    assert (opening.hour, opening.minute, opening.utcoffset()) == (7, 30, dt.timedelta(hours=7))


def test_next_opening_over_holidays(hours):
    # Wed 31/12/2025 evening → Thu 1/1 and Fri 2/1 holidays, weekend → Monday 05/01/2026
    assert hours.next_opening(vn(2025, 12, 31, 17, 30)) == vn(2026, 1, 5, 7, 30)
    # Tết Bính Ngọ: Friday 13/02/2026 evening → Monday 23/02/2026
    assert hours.next_opening(vn(2026, 2, 13, 17, 0)) == vn(2026, 2, 23, 7, 30)
    # on a holiday morning
    assert hours.next_opening(vn(2026, 4, 30, 8, 0)) == vn(2026, 5, 4, 7, 30)


def test_next_opening_through_midnight_is_not_an_opening():
    hours = OfficeHours.parse("T2 20:00-24:00; T3 00:00-02:00, 08:00-10:00")
    assert hours.next_opening(vn(2026, 12, 7, 19, 0)) == vn(2026, 12, 7, 20, 0)
    assert hours.next_opening(vn(2026, 12, 7, 21, 0)) == vn(2026, 12, 8, 8, 0)
    assert hours.is_open(vn(2026, 12, 8, 1, 0))


def test_next_opening_at_midnight_after_a_closed_day():
    hours = OfficeHours.parse("T3 00:00-02:00")
    assert hours.next_opening(vn(2026, 12, 7, 21, 0)) == vn(2026, 12, 8, 0, 0)


def test_next_opening_none_for_always_and_beyond_lookahead():
    assert OfficeHours.parse("always").next_opening(vn(2026, 12, 6, 9, 0)) is None
    start = dt.date(2026, 12, 1)
    all_off = {start + dt.timedelta(days=n): "Nghỉ" for n in range(LOOKAHEAD_DAYS + 2)}
    calendar = Calendar(holidays=all_off, working_weekends={}, covered_years=frozenset())
    hours = OfficeHours.parse(WEEKDAYS, calendar=calendar)
    assert hours.next_opening(vn(2026, 12, 1, 9, 0)) is None
    shorter = {day: name for day, name in all_off.items() if day < dt.date(2027, 1, 20)}
    calendar = Calendar(holidays=shorter, working_weekends={}, covered_years=frozenset())
    hours = OfficeHours.parse(WEEKDAYS, calendar=calendar)
    assert hours.next_opening(vn(2026, 12, 1, 9, 0)) == vn(2027, 1, 20, 7, 30)   # a Wednesday


# ---- texts ---------------------------------------------------------------------------------

def test_describe(hours):
    assert hours.describe() == "Thứ Hai – Thứ Sáu: 07:30–11:30, 13:30–17:00 (trừ ngày lễ)"
    assert OfficeHours.parse(WEEKDAYS + "; T7 07:30-11:30").describe() == (
        "Thứ Hai – Thứ Sáu: 07:30–11:30, 13:30–17:00; Thứ Bảy: 07:30–11:30 (trừ ngày lễ)")
    assert OfficeHours.parse("T2-T4,T6 08:00-12:00").describe() == (
        "Thứ Hai – Thứ Tư, Thứ Sáu: 08:00–12:00 (trừ ngày lễ)")
    assert OfficeHours.parse("T7,CN 8:00-24:00").describe() == (
        "Thứ Bảy, Chủ nhật: 08:00–24:00 (trừ ngày lễ)")
    assert OfficeHours.parse("always").describe() == "cả ngày, mọi ngày trong tuần"


def test_closed_message_outside_hours(hours):
    assert hours.closed_message(vn(2026, 12, 5, 10, 0)) == (
        "Hiện đang ngoài giờ làm việc của tổ tư vấn (Thứ Hai – Thứ Sáu: 07:30–11:30, "
        "13:30–17:00, trừ ngày lễ). Tổ tư vấn sẽ làm việc lại lúc 07:30 Thứ Hai 07/12/2026.")
    assert hours.closed_message(dt.datetime(2026, 12, 7, 5, 0, tzinfo=UTC)).endswith(
        "làm việc lại lúc 13:30 Thứ Hai 07/12/2026.")


def test_closed_message_on_a_holiday(hours):
    assert hours.closed_message(vn(2026, 1, 1, 9, 0)) == (
        "Hôm nay là ngày nghỉ lễ (Tết Dương lịch). "
        "Tổ tư vấn sẽ làm việc lại lúc 07:30 Thứ Hai 05/01/2026.")


def test_closed_message_empty_while_open(hours):
    assert hours.closed_message(vn(2026, 12, 7, 9, 0)) == ""
    assert OfficeHours.parse("always").closed_message(vn(2026, 1, 1, 9, 0)) == ""


def test_office_hours_are_immutable_values(hours):
    with pytest.raises(dataclasses.FrozenInstanceError):
        hours.always = True
    assert hash(hours) == hash(OfficeHours.parse(WEEKDAYS))
    assert hours != OfficeHours.parse("T2-T6 07:30-11:30")

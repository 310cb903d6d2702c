"""Working days across weekends, Tết and make-up Saturdays."""

import datetime as dt

from hypothesis import given, strategies as st

from bot.dossiers.workdays import (add_working_days, default_calendar, holiday_name, is_working_day,
                                   load_calendar)

D = dt.date


def test_eight_working_days_from_the_thursday_before_tet_2026():
    # Fri 13/02 is day 1; 14–22/02 is the Tết break; 23–27/02 are days 2–6; Mon 02/03, Tue 03/03.
    assert add_working_days(D(2026, 2, 12), 8) == D(2026, 3, 3)


def test_tet_2026_break_is_closed():
    for day in range(14, 23):
        assert not is_working_day(D(2026, 2, day)), day
    assert is_working_day(D(2026, 2, 13)) and is_working_day(D(2026, 2, 23))
    assert holiday_name(D(2026, 2, 17)) == "Tết Nguyên đán"


def test_weekends_and_make_up_saturdays():
    assert add_working_days(D(2026, 3, 6), 1) == D(2026, 3, 9)          # Friday → Monday
    assert add_working_days(D(2026, 3, 7), 1) == D(2026, 3, 9)          # from a Saturday
    assert is_working_day(D(2026, 1, 10))                              # Saturday worked for 02/01
    assert not is_working_day(D(2026, 1, 2))
    assert add_working_days(D(2025, 12, 31), 1) == D(2026, 1, 5)
    assert add_working_days(D(2026, 1, 9), 1) == D(2026, 1, 10)


def test_spring_holidays():
    assert not is_working_day(D(2026, 4, 27))                          # Giỗ Tổ on a Sunday → Monday off
    assert add_working_days(D(2026, 4, 29), 1) == D(2026, 5, 4)         # 30/4 and 1/5
    assert add_working_days(D(2025, 4, 25), 1) == D(2025, 4, 26)        # Saturday worked in 2025
    assert not is_working_day(D(2025, 5, 2))
    assert not is_working_day(D(2025, 9, 1)) and not is_working_day(D(2025, 9, 2))


def test_zero_days_and_the_file_covers_three_years():
    assert add_working_days(D(2026, 2, 14), 0) == D(2026, 2, 14)
    cal = default_calendar()
    assert cal.covered_years == {2025, 2026, 2027}
    assert {d.year for d in cal.holidays} == {2025, 2026, 2027}
    assert all(d.weekday() < 5 for d in cal.holidays)                  # only weekdays are listed
    assert all(d.weekday() >= 5 for d in cal.working_weekends)


def test_calendar_from_another_file(tmp_path):
    path = tmp_path / "h.yml"
    path.write_text("holidays:\n  - {date: 2026-03-10, name: Lễ thử}\ncovered_years: [2026]\n",
                    encoding="utf-8")
    cal = load_calendar(path)
    assert add_working_days(D(2026, 3, 9), 1, calendar=cal) == D(2026, 3, 11)


@given(st.dates(min_value=D(2025, 1, 1), max_value=D(2027, 11, 30)), st.integers(0, 40))
def test_result_is_the_nth_working_day(start, n):
    end = add_working_days(start, n)
    between = [start + dt.timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(map(is_working_day, between)) == n
    if n:
        assert is_working_day(end)

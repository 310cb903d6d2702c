"""Figures of the volunteer console, from hand-built handover events (bot/handover/figures.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest

from bot import clock
from bot.handover.figures import CSV_HEADER, figures, figures_csv

TODAY = dt.date(2026, 3, 10)
UTC = dt.timezone.utc
_ids = itertools.count(1)


def ev(handover_id, kind, at, *, team=None, actor=None, detail=None):
    """One handover_events row; ``at`` an aware datetime (or any raw value for the odd-data test)."""
    return {"id": next(_ids), "handover_id": handover_id, "conversation_id": f"c{handover_id}",
            "kind": kind, "actor": actor, "team": team,
            "at": at.isoformat() if isinstance(at, dt.datetime) else at, "detail": detail or {}}


def at(hour, minute=0, second=0, day=TODAY):
    """A Vietnam-local moment of ``day`` (stored, like the table does, as UTC)."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=clock.VN_TZ).astimezone(UTC)


def handover(hid, start, *, wait=None, handling=None, team="phuong-1", score=None):
    """Requested at ``start``, claimed ``wait`` s later, ended ``handling`` s after that."""
    rows = [ev(hid, "requested", start, detail={"reason": "asked", "channel": "web"})]
    if wait is not None:
        claim = start + dt.timedelta(seconds=wait)
        rows.append(ev(hid, "claimed", claim, team=team, actor="an"))
        rows.append(ev(hid, "replied", claim + dt.timedelta(seconds=5), team=team, actor="an"))
        if handling is not None:
            end = claim + dt.timedelta(seconds=handling)
            rows.append(ev(hid, "released", end, team=team, actor="an"))
            if score is not None:
                rows.append(ev(hid, "rated", end + dt.timedelta(seconds=30), detail={"score": score}))
    return rows


def row_for(result, date, team):
    matches = [r for r in result["days"] if r["date"] == date.isoformat() and r["team"] == team]
    assert len(matches) == 1, result["days"]
    return matches[0]


def test_wait_median_and_p90():
    events = []
    for i in range(10):  # waits 60, 120, ..., 600 s
        events += handover(100 + i, at(8, i), wait=60 * (i + 1))
    result = figures(events, days=1, today=TODAY)
    row = row_for(result, TODAY, "phuong-1")
    assert row["handed_over"] == 10 and row["claimed"] == 10
    assert row["wait_median_s"] == 330.0
    # statistics.quantiles(n=10, method="inclusive")[-1] on 60..600: 540 + 0.1 * 60
    assert row["wait_p90_s"] == 546.0
    assert result["totals"]["wait_median_s"] == 330.0 and result["totals"]["wait_p90_s"] == 546.0


def test_p90_of_a_single_wait_is_that_wait_and_no_claim_gives_none():
    result = figures(handover(1, at(9), wait=75) + handover(2, at(9, 5)), days=1, today=TODAY)
    claimed = row_for(result, TODAY, "phuong-1")
    assert claimed["wait_median_s"] == 75.0 and claimed["wait_p90_s"] == 75.0
    unclaimed = row_for(result, TODAY, None)
    assert unclaimed["handed_over"] == 1 and unclaimed["claimed"] == 0
    assert unclaimed["wait_median_s"] is None and unclaimed["wait_p90_s"] is None
    assert result["totals"]["handed_over"] == 2 and result["totals"]["claimed"] == 1


def test_handling_median_only_for_ended_handovers():
    events = (handover(1, at(8), wait=10, handling=300) + handover(2, at(8, 10), wait=10, handling=600)
              + handover(3, at(8, 20), wait=10, handling=900) + handover(4, at(8, 30), wait=10))
    closed = [ev(5, "requested", at(9)), ev(5, "claimed", at(9, 1), team="phuong-1"),
              ev(5, "closed", at(9, 21), detail={"reason": "xong"})]
    row = row_for(figures(events + closed, days=1, today=TODAY), TODAY, "phuong-1")
    assert row["handed_over"] == 5
    assert row["handling_median_s"] == 750.0  # 300, 600, 900, 1200 (the open one has none)


def test_release_before_any_claim_has_no_handling():
    events = [ev(1, "requested", at(8)), ev(1, "released", at(8, 5)), ev(1, "claimed", at(8, 6), team="t")]
    row = row_for(figures(events, days=1, today=TODAY), TODAY, "t")
    assert row["wait_median_s"] == 360.0 and row["handling_median_s"] is None


def test_teams_are_separate_rows_and_sorted_none_last():
    events = (handover(1, at(8), wait=60, team="phuong-ben-thanh")
              + handover(2, at(8), wait=120, team="phuong-ben-thanh")
              + handover(3, at(8), wait=600, team="phuong-an-dong")
              + handover(4, at(8)))
    result = figures(events, days=1, today=TODAY)
    assert [r["team"] for r in result["days"]] == ["phuong-an-dong", "phuong-ben-thanh", None]
    assert row_for(result, TODAY, "phuong-ben-thanh")["wait_median_s"] == 90.0
    assert row_for(result, TODAY, "phuong-an-dong")["wait_median_s"] == 600.0
    assert result["totals"]["wait_median_s"] == 120.0  # median of all waits, not of the teams' medians


def test_team_is_the_latest_claim_or_assignment():
    events = [ev(1, "requested", at(8)), ev(1, "claimed", at(8, 2), team="phuong-1", actor="an"),
              ev(1, "assigned", at(8, 10), team="phuong-2", actor="sup", detail={"username": "binh"})]
    result = figures(events, days=1, today=TODAY)
    row = row_for(result, TODAY, "phuong-2")
    assert row["handed_over"] == 1 and row["wait_median_s"] == 120.0
    assert all(r["team"] != "phuong-1" for r in result["days"])


def test_requeued_handover_waits_to_its_first_claim():
    events = [ev(1, "requested", at(8)),
              ev(1, "claimed", at(8, 3), team="phuong-1", actor="an"),
              ev(1, "requeued", at(8, 13), detail={"why": "timeout"}),
              ev(1, "claimed", at(8, 30), team="phuong-2", actor="binh"),
              ev(1, "closed", at(8, 43), team="phuong-2", actor="binh", detail={"reason": "xong"})]
    result = figures(events, days=1, today=TODAY)
    row = row_for(result, TODAY, "phuong-2")
    assert row["wait_median_s"] == 180.0  # to the first claim, not 30 minutes
    assert row["handling_median_s"] == 40 * 60.0  # from the first claim to the end
    assert row["claimed"] == 1


def test_day_is_the_vietnam_date_of_the_first_request():
    late_utc = dt.datetime(2026, 3, 9, 17, 30, tzinfo=UTC)  # 00:30 on 10 March in Vietnam
    events = [
        {"id": 1, "handover_id": 1, "conversation_id": "c", "kind": "requested", "actor": None,
         "team": None, "at": "2026-03-09T17:30:00Z", "detail": {}},
        ev(2, "requested", dt.datetime(2026, 3, 9, 16, 59, tzinfo=UTC)),  # 23:59 on 9 March
        ev(2, "claimed", late_utc, team="t"),  # claimed after midnight: still 9 March's handover
    ]
    result = figures(events, days=2, today=TODAY)
    assert row_for(result, TODAY, None)["handed_over"] == 1
    assert row_for(result, TODAY - dt.timedelta(days=1), "t")["handed_over"] == 1
    assert [r["date"] for r in result["days"]] == ["2026-03-10", "2026-03-09"]


def test_today_defaults_to_the_vietnam_clock():
    events = [ev(1, "requested", dt.datetime(2026, 3, 9, 17, 30, tzinfo=UTC))]
    with clock.frozen(dt.datetime(2026, 3, 9, 18, 0, tzinfo=UTC)):  # already 10 March in Vietnam
        result = figures(events, days=1)
    assert [(r["date"], r["handed_over"]) for r in result["days"]] == [("2026-03-10", 1)]


def test_window_of_days_up_to_today_inclusive():
    events = []
    for back in range(0, 6):  # one handover on each of the last six days
        events += handover(10 + back, at(9, day=TODAY - dt.timedelta(days=back)))
    events += handover(99, at(9, day=TODAY + dt.timedelta(days=1)))  # tomorrow: outside
    result = figures(events, days=3, today=TODAY)
    assert [r["date"] for r in result["days"]] == ["2026-03-10", "2026-03-09", "2026-03-08"]
    assert result["totals"]["handed_over"] == 3


def test_quiet_days_get_a_zero_row():
    result = figures(handover(1, at(9), wait=30), days=3, today=TODAY)
    assert [(r["date"], r["handed_over"]) for r in result["days"]] == [
        ("2026-03-10", 1), ("2026-03-09", 0), ("2026-03-08", 0)]
    quiet = result["days"][1]
    assert quiet["team"] is None and quiet["wait_median_s"] is None and quiet["rating_avg"] is None


def test_ratings_counted_on_the_handover_day_and_team():
    events = (handover(1, at(8), wait=10, handling=60, score=5)
              + handover(2, at(8), wait=10, handling=60, score=4)
              + handover(3, at(8), wait=10, handling=60, score=4)
              + handover(4, at(8), wait=10, handling=60, team="phuong-2", score=1))
    # rated the next day: still counts on the handover's day
    events += handover(5, at(23, day=TODAY - dt.timedelta(days=1)), wait=10, handling=60)
    events.append(ev(5, "rated", at(10), detail={"score": 2, "comment": "chậm"}))
    result = figures(events, days=2, today=TODAY)
    row = row_for(result, TODAY, "phuong-1")
    assert row["ratings"] == 3 and row["rating_avg"] == 4.33
    assert row_for(result, TODAY, "phuong-2")["rating_avg"] == 1.0
    yesterday = row_for(result, TODAY - dt.timedelta(days=1), "phuong-1")
    assert yesterday["ratings"] == 1 and yesterday["rating_avg"] == 2.0
    assert result["totals"]["ratings"] == 5 and result["totals"]["rating_avg"] == 3.2


def test_a_handover_rated_twice_counts_its_latest_rating():
    events = handover(1, at(8), wait=10, handling=60, score=1)
    events.append(ev(1, "rated", at(9), detail={"score": 5}))
    row = row_for(figures(events, days=1, today=TODAY), TODAY, "phuong-1")
    assert row["ratings"] == 1 and row["rating_avg"] == 5.0


def test_unanswered_callbacks():
    events = [
        ev(0, "callback_requested", at(8), detail={"callback_id": 1}),
        ev(0, "callback_requested", at(9), detail={"callback_id": 2}),
        ev(7, "callback_requested", at(10), detail={"callback_id": "3"}),
        ev(0, "callback_done", at(11), actor="an", detail={"callback_id": 1}),
        ev(0, "callback_done", at(11), actor="an", detail={"callback_id": 99}),  # not ours
        # 17:30 UTC on 9 March is 10 March in Vietnam
        ev(0, "callback_requested", dt.datetime(2026, 3, 9, 17, 30, tzinfo=UTC), detail={"callback_id": 4}),
        ev(0, "callback_requested", at(9, day=TODAY - dt.timedelta(days=1)), detail={"callback_id": 5}),
    ]
    result = figures(events, days=1, today=TODAY)
    row = row_for(result, TODAY, None)
    assert row["callbacks"] == 4 and row["callbacks_unanswered"] == 3
    assert row["handed_over"] == 0
    assert result["unanswered_callbacks"] == 3  # no live count given: the window's
    assert figures(events, days=1, today=TODAY, open_callbacks=7)["unanswered_callbacks"] == 7
    assert figures(events, days=1, today=TODAY, open_callbacks=0)["unanswered_callbacks"] == 0


def test_team_filter_keeps_only_that_team():
    events = (handover(1, at(8), wait=60, team="phuong-1", handling=60, score=5)
              + handover(2, at(8), wait=600, team="phuong-2", handling=60, score=1)
              + handover(3, at(8))
              + [ev(0, "callback_requested", at(8), detail={"callback_id": 1})])
    result = figures(events, days=2, today=TODAY, team="phuong-2")
    assert {r["team"] for r in result["days"]} == {"phuong-2"}
    assert [r["date"] for r in result["days"]] == ["2026-03-10", "2026-03-09"]
    assert result["totals"]["handed_over"] == 1 and result["totals"]["wait_median_s"] == 600.0
    assert result["totals"]["rating_avg"] == 1.0 and result["totals"]["callbacks"] == 0


def test_bad_rows_are_ignored():
    good = handover(1, at(8), wait=120, handling=60, score=4)
    bad = [
        None, "requested", 42, {},
        ev(2, "requested", "yesterday-ish"),
        ev(3, "requested", None),
        ev(4, "teleported", at(8)),
        {"kind": "requested", "at": at(8).isoformat()},  # no handover id
        ev("abc", "requested", at(8)),
        ev(True, "requested", at(8)),
        ev(1, "claimed", "not a time", team="other"),
        ev(1, "rated", at(12), detail={"score": 9}),
        ev(1, "rated", at(12), detail={"score": True}),
        ev(1, "rated", at(12), detail="{not json"),
        ev(6, "claimed", at(8), team="orphan"),  # never requested
        ev(0, "callback_requested", at(8), detail={}),
        ev(0, "callback_requested", at(8), detail={"callback_id": None}),
        {**ev(8, "requested", at(8)), "detail": None},  # usable: the detail is not needed
    ]
    result = figures(good + bad, days=1, today=TODAY)
    row = row_for(result, TODAY, "phuong-1")
    assert row["handed_over"] == 1 and row["wait_median_s"] == 120.0
    assert row["ratings"] == 1 and row["rating_avg"] == 4.0
    assert row_for(result, TODAY, None)["handed_over"] == 1 and row_for(result, TODAY, None)["callbacks"] == 0
    assert {r["team"] for r in result["days"]} == {"phuong-1", None}
    assert figures(None, days=1, today=TODAY)["totals"]["handed_over"] == 0


def test_csv_header_and_rows():
    result = figures(handover(1, at(8), wait=120, handling=600, score=4, team="phuong-ben-thanh")
                     + [ev(0, "callback_requested", at(9), detail={"callback_id": 1})], days=1, today=TODAY)
    text = figures_csv(result)
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Ngày", "Nhóm", "Chuyển cho người", "Đã nhận", "Chờ trung vị (giây)",
                        "Chờ P90 (giây)", "Xử lý trung vị (giây)", "Số đánh giá", "Điểm TB", "Gọi lại",
                        "Gọi lại chưa xử lý"]
    assert lines[0] == CSV_HEADER
    assert lines[1] == ["2026-03-10", "phuong-ben-thanh", "1", "1", "120.0", "120.0", "600.0", "1", "4.0", "0", "0"]
    assert lines[2] == ["2026-03-10", "", "0", "0", "", "", "", "0", "", "1", "1"]
    assert lines[3][0] == "Tổng cộng" and lines[3][2] == "1" and lines[3][9] == "1"
    assert len(lines) == 4
    assert figures_csv(result, bom=True).startswith("\ufeffNgày,")


@pytest.mark.parametrize("days", [0, -3])
def test_days_below_one_count_as_one(days):
    result = figures(handover(1, at(8)), days=days, today=TODAY)
    assert [r["date"] for r in result["days"]] == ["2026-03-10"]

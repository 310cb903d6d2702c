"""The volunteer console's figures, computed from recorded handover events only.

Pure: no database, no clock other than :mod:`bot.clock` (for "today" when none is given).
The caller reads the ``handover_events`` rows (see ``build/HANDOVER_SPEC.md``) and passes
them to :func:`figures`; :func:`figures_csv` turns the result into a CSV download.

Definitions
-----------
Times are compared as aware datetimes; an ``at`` without an offset is taken as UTC.
Events of one handover are read in time order (ties by ``id``); events that come before
the handover's first ``requested`` event are ignored (clock skew, stray rows).

* **Day** — the Vietnam-local date (UTC+7, :data:`bot.clock.VN_TZ`) of the handover's
  FIRST ``requested`` event. A handover without a ``requested`` event is not counted.
* **Team** — the ``team`` of the handover's latest ``claimed``/``assigned`` event; ``None``
  when it was never claimed (or the claimer has no team).
* **handed_over** — handovers requested that day; **claimed** — those of them that were
  claimed (``claimed`` or ``assigned``) at least once.
* **wait** — first claim − first request, in seconds, for claimed handovers. A handover that
  was ``requeued`` and claimed again still has its wait measured to its FIRST claim: the wait
  is how long the citizen waited before a person first picked the chat up.
* **handling** — end (first ``released``/``closed`` after the first claim) − first claim,
  in seconds, for handovers that ended after being claimed (requeued periods included).
* **wait_median_s / handling_median_s** — :func:`statistics.median`; **wait_p90_s** — the
  90th percentile, ``statistics.quantiles(waits, n=10, method="inclusive")[-1]`` (linear
  interpolation between the closest ranks, never outside the observed range); for a single
  sample it is that sample. Seconds are rounded to 0.1 s; ``None`` when there is no sample.
* **ratings / rating_avg** — ``rated`` events with a score 1..5, counted on the rated
  handover's day and team; when a handover was rated more than once its latest rating counts
  (one rating per handover). ``rating_avg`` is rounded to 2 decimals, ``None`` without ratings.
* **callbacks** — ``callback_requested`` events (one per ``callback_id``, the first), on their
  own Vietnam date, with the event's ``team`` (normally ``None``: a call-back belongs to no
  team). **callbacks_unanswered** — those of them without a ``callback_done`` event with the
  same ``detail.callback_id`` among the events given (whenever it was done).
* **Window** — the last ``days`` Vietnam dates up to ``today`` inclusive (``days`` < 1 counts
  as 1). Every date of the window has at least one row (zeros, with the filtered team or
  ``None``), so a quiet day shows as a quiet day instead of disappearing.
* **Rows** — one per (date, team), sorted by date descending, then team (``None`` last).
  With ``team`` given only that team's rows are kept (a supervisor sees their team), so
  team-less rows (unclaimed handovers, call-backs) are left out.
* **totals** — over the rows kept, recomputed from the samples (a median of all waits, not
  a median of daily medians).
* **unanswered_callbacks** — ``open_callbacks`` when the caller gives it (the live count of
  open call-backs in the database: those requested before the window still count there);
  otherwise ``totals["callbacks_unanswered"]`` (call-backs of the window still unanswered).

Odd data never raises: rows that are not dicts, unknown kinds, unparsable times, missing or
ill-typed ids, scores out of range and the like are ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import statistics
from typing import Any, Iterable

from bot import clock

__all__ = ["figures", "figures_csv", "CSV_HEADER"]

KINDS = frozenset({
    "requested", "claimed", "assigned", "replied", "requeued", "released", "closed", "rated",
    "callback_requested", "callback_done",
})
_CLAIMS = frozenset({"claimed", "assigned"})
_ENDS = frozenset({"released", "closed"})
_CALLBACK_KINDS = frozenset({"callback_requested", "callback_done"})

CSV_HEADER = [
    "Ngày", "Nhóm", "Chuyển cho người", "Đã nhận", "Chờ trung vị (giây)", "Chờ P90 (giây)",
    "Xử lý trung vị (giây)", "Số đánh giá", "Điểm TB", "Gọi lại", "Gọi lại chưa xử lý",
]
_CSV_KEYS = [
    "handed_over", "claimed", "wait_median_s", "wait_p90_s", "handling_median_s", "ratings",
    "rating_avg", "callbacks", "callbacks_unanswered",
]
TOTAL_LABEL = "Tổng cộng"


# --- parsing -------------------------------------------------------------------------------

def _parse_at(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        at = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            at = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if at.tzinfo is None or at.utcoffset() is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    try:
        return at.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        return None


def _handover_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def _team(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _detail(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _callback_id(detail: dict) -> str | None:
    value = detail.get("callback_id")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        text = str(value).strip()
        return text or None
    return None


def _score(detail: dict) -> int | None:
    value = detail.get("score")
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 1 <= value <= 5:
        return value
    return None


def _sort_id(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _clean(events: Iterable[Any]) -> list[tuple[dt.datetime, int, str, dict, dict]]:
    """(at, id, kind, detail, row) of the usable rows, in time order."""
    rows = []
    try:
        iterator = iter(events or ())
    except TypeError:
        return rows
    for row in iterator:
        if not isinstance(row, dict):
            continue
        kind = row.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            continue
        at = _parse_at(row.get("at"))
        if at is None:
            continue
        rows.append((at, _sort_id(row.get("id")), kind, _detail(row.get("detail")), row))
    rows.sort(key=lambda item: (item[0], item[1]))
    return rows


# --- statistics ----------------------------------------------------------------------------

def _median(samples: list[float]) -> float | None:
    return round(float(statistics.median(samples)), 1) if samples else None


def _p90(samples: list[float]) -> float | None:
    """90th percentile: ``statistics.quantiles(n=10, method="inclusive")[-1]``; one sample = it."""
    if not samples:
        return None
    if len(samples) == 1:
        return round(float(samples[0]), 1)
    return round(float(statistics.quantiles(samples, n=10, method="inclusive")[-1]), 1)


class _Bucket:
    __slots__ = ("handed_over", "claimed", "waits", "handlings", "scores", "callbacks", "unanswered")

    def __init__(self) -> None:
        self.handed_over = 0
        self.claimed = 0
        self.waits: list[float] = []
        self.handlings: list[float] = []
        self.scores: list[int] = []
        self.callbacks = 0
        self.unanswered = 0

    def add(self, other: "_Bucket") -> None:
        self.handed_over += other.handed_over
        self.claimed += other.claimed
        self.waits += other.waits
        self.handlings += other.handlings
        self.scores += other.scores
        self.callbacks += other.callbacks
        self.unanswered += other.unanswered

    def figures(self) -> dict:
        return {
            "handed_over": self.handed_over,
            "claimed": self.claimed,
            "wait_median_s": _median(self.waits),
            "wait_p90_s": _p90(self.waits),
            "handling_median_s": _median(self.handlings),
            "ratings": len(self.scores),
            "rating_avg": round(sum(self.scores) / len(self.scores), 2) if self.scores else None,
            "callbacks": self.callbacks,
            "callbacks_unanswered": self.unanswered,
        }


# --- figures -------------------------------------------------------------------------------

def _vn_date(at: dt.datetime) -> dt.date:
    return at.astimezone(clock.VN_TZ).date()


def figures(
    events: Iterable[dict],
    *,
    days: int = 7,
    today: dt.date | None = None,
    team: str | None = None,
    open_callbacks: int | None = None,
) -> dict:
    """Figures per Vietnam date and team over the last ``days`` days up to ``today`` (see module doc).

    Returns ``{"days": [{"date": "YYYY-MM-DD", "team", "handed_over", "claimed", "wait_median_s",
    "wait_p90_s", "handling_median_s", "ratings", "rating_avg", "callbacks",
    "callbacks_unanswered"}], "totals": {...same without date/team}, "unanswered_callbacks": int}``.
    """
    try:
        days = max(1, int(days))
    except (TypeError, ValueError):
        days = 7
    if isinstance(today, dt.datetime):
        today = (today if today.tzinfo else today.replace(tzinfo=dt.timezone.utc)).astimezone(clock.VN_TZ).date()
    elif not isinstance(today, dt.date):
        today = clock.today()
    first_day = today - dt.timedelta(days=days - 1)

    def in_window(day: dt.date) -> bool:
        return first_day <= day <= today

    handovers: dict[int, dict] = {}
    callbacks: dict[str, tuple[dt.date, str | None]] = {}
    done: set[str] = set()

    for at, _, kind, detail, row in _clean(events):
        if kind in _CALLBACK_KINDS:
            callback_id = _callback_id(detail)
            if callback_id is None:
                continue
            if kind == "callback_done":
                done.add(callback_id)
            elif callback_id not in callbacks:
                callbacks[callback_id] = (_vn_date(at), _team(row.get("team")))
            continue

        handover_id = _handover_id(row.get("handover_id"))
        if handover_id is None:
            continue
        state = handovers.get(handover_id)
        if state is None:
            if kind != "requested":
                continue  # nothing counts before the handover was requested
            handovers[handover_id] = {"requested": at, "claimed": None, "team": None, "ended": None,
                                      "score": None}
            continue
        if kind in _CLAIMS:
            if state["claimed"] is None:
                state["claimed"] = at
            state["team"] = _team(row.get("team"))
        elif kind in _ENDS:
            if state["claimed"] is not None and state["ended"] is None:
                state["ended"] = at
        elif kind == "rated":
            score = _score(detail)
            if score is not None:
                state["score"] = score  # the latest rating of the handover counts

    buckets: dict[tuple[dt.date, str | None], _Bucket] = {}

    def bucket(day: dt.date, owner: str | None) -> _Bucket:
        key = (day, owner)
        if key not in buckets:
            buckets[key] = _Bucket()
        return buckets[key]

    for state in handovers.values():
        day = _vn_date(state["requested"])
        if not in_window(day):
            continue
        b = bucket(day, state["team"])
        b.handed_over += 1
        if state["claimed"] is not None:
            b.claimed += 1
            b.waits.append((state["claimed"] - state["requested"]).total_seconds())
            if state["ended"] is not None:
                b.handlings.append((state["ended"] - state["claimed"]).total_seconds())
        if state["score"] is not None:
            b.scores.append(state["score"])

    for callback_id, (day, owner) in callbacks.items():
        if not in_window(day):
            continue
        b = bucket(day, owner)
        b.callbacks += 1
        if callback_id not in done:
            b.unanswered += 1

    wanted = _team(team)
    if team is not None:
        buckets = {key: value for key, value in buckets.items() if key[1] == wanted}
    present = {day for day, _ in buckets}
    for offset in range(days):
        day = today - dt.timedelta(days=offset)
        if day not in present:
            bucket(day, wanted)

    keys = sorted(buckets, key=lambda key: (key[1] is None, key[1] or ""))
    keys.sort(key=lambda key: key[0], reverse=True)

    total = _Bucket()
    rows = []
    for key in keys:
        total.add(buckets[key])
        rows.append({"date": key[0].isoformat(), "team": key[1], **buckets[key].figures()})
    totals = total.figures()

    if isinstance(open_callbacks, int) and not isinstance(open_callbacks, bool) and open_callbacks >= 0:
        unanswered = open_callbacks
    else:
        unanswered = totals["callbacks_unanswered"]
    return {"days": rows, "totals": totals, "unanswered_callbacks": unanswered}


# --- CSV -----------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    return "" if value is None else value


def figures_csv(result: dict, *, bom: bool = False) -> str:
    """The figures as CSV (Vietnamese header, one line per row, then a "Tổng cộng" line).

    ``bom=True`` starts the text with a UTF-8 byte-order mark so that spreadsheet programs
    read the diacritics right when the file is opened directly.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    result = result if isinstance(result, dict) else {}
    rows = result.get("days")
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict):
            continue
        writer.writerow([_cell(row.get("date")), _cell(row.get("team"))]
                        + [_cell(row.get(key)) for key in _CSV_KEYS])
    totals = result.get("totals")
    if isinstance(totals, dict):
        writer.writerow([TOTAL_LABEL, ""] + [_cell(totals.get(key)) for key in _CSV_KEYS])
    text = out.getvalue()
    return "\ufeff" + text if bom else text

"""The staff dashboard's figures: conversations, intents, procedures, fallbacks, handovers,
dossiers and ratings over the last ``days`` Vietnam dates, and their CSV export.

Read-only over the stores that already record everything (no counters of its own, so the
figures can be recomputed for any window and never drift):

- conversations and citizen messages: the app's ``messages`` table (``config.app_database``:
  the SQLite file or DATABASE_URL, read through ``bot.db``), a conversation counted on each
  Vietnam date it sent a message, under its channel;
- intents, procedures and the fallback rate: Rasa's tracker store (``config.tracker_url``: SQLite or
  PostgreSQL),
  ``user`` events: the intent Rasa predicted (``nlu_fallback`` = not understood) and the
  ``procedure`` entities resolved to catalogue ids;
- handovers, waits and ratings: ``bot.handover.figures`` over the recorded handover events
  (one definition of a wait and a rating for the console and for this page);
- dossiers by state (now) and created per day: the ``dossiers`` table.

A store that does not exist yet (a fresh install, Rasa never started) counts as empty. The SQL
is the same on SQLite and PostgreSQL: times are compared as the ISO text the stores write, and
the Vietnam date of each row is computed here, not with a dialect's date functions.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

from bot import clock, readonly_db
from bot.db import Database, Transaction
from bot.dossiers.states import STATES
from bot.handover.figures import figures as handover_figures
from bot.handover.store import HandoverStore

__all__ = ["dashboard", "dashboard_csv", "CHANNELS", "TOP"]

CHANNELS = ("web", "zalo", "telegram")
TOP = 10
FALLBACK = "nlu_fallback"


def _vn_date(value) -> dt.date | None:
    """The Vietnam date of an ISO time (naive = UTC) or a Unix timestamp."""
    try:
        when = (dt.datetime.fromtimestamp(float(value), dt.timezone.utc) if isinstance(value, (int, float))
                else dt.datetime.fromisoformat(str(value)))
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(clock.VN_TZ).date()


def _conversations(tx: Transaction, since_iso: str, dates: set) -> tuple[dict, dict]:
    """{date: {channel: conversations}}, {date: citizen messages}."""
    seen: dict = defaultdict(lambda: defaultdict(set))
    messages: Counter = Counter()
    rows = tx.all("SELECT conversation_id, channel, created_at FROM messages "
                  "WHERE direction = 'in' AND created_at >= ?", (since_iso,))
    for row in rows:
        day = _vn_date(row["created_at"])
        if day in dates:
            seen[day][row["channel"] or "web"].add(row["conversation_id"])
            messages[day] += 1
    return {day: {ch: len(ids) for ch, ids in channels.items()} for day, channels in seen.items()}, messages


def _nlu(tracker_url, since_ts: float, dates: set) -> tuple[Counter, Counter, Counter, Counter]:
    """Intents, procedures, user turns per day and fallbacks per day, from Rasa's events (the
    Vietnam date of each event is computed here, not in SQL: the query is the same on every dialect)."""
    from sqlalchemy import text

    intents: Counter = Counter()
    procedures: Counter = Counter()
    turns: Counter = Counter()
    fallbacks: Counter = Counter()
    with readonly_db.open_tracker(tracker_url) as engine:
        if engine is None:
            return intents, procedures, turns, fallbacks
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT timestamp, intent_name, data FROM events"
                                     " WHERE type_name = 'user' AND timestamp >= :since"), {"since": since_ts})
            for timestamp, intent_name, raw in rows:
                _count_turn(timestamp, intent_name, raw, dates, intents, procedures, turns, fallbacks)
    return intents, procedures, turns, fallbacks


def _count_turn(timestamp, intent_name, raw, dates, intents, procedures, turns, fallbacks) -> None:
    day = _vn_date(timestamp)
    if day not in dates:
        return
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        data = {}
    if str(data.get("text") or "").startswith("/"):   # a button press, not something typed
        return
    intent = intent_name or ((data.get("parse_data") or {}).get("intent") or {}).get("name")
    turns[day] += 1
    if intent == FALLBACK:
        fallbacks[day] += 1
    if intent:
        intents[intent] += 1
    entities = (data.get("parse_data") or {}).get("entities") or []
    named = {e.get("value") for e in entities if isinstance(e, dict) and e.get("entity") == "procedure"}
    for value in named:
        if isinstance(value, str) and value:
            procedures[value] += 1


def _dossiers(tx: Transaction, since_iso: str, dates: set) -> tuple[Counter, Counter]:
    """{state: dossiers now}, {date: dossiers created}."""
    by_state = Counter({row["state"]: int(row["n"]) for row in tx.all(
        "SELECT state, COUNT(*) AS n FROM dossiers GROUP BY state")})
    created: Counter = Counter()
    for row in tx.all("SELECT created_at FROM dossiers WHERE created_at >= ?", (since_iso,)):
        day = _vn_date(row["created_at"])
        if day in dates:
            created[day] += 1
    return by_state, created


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def dashboard(app_database: "Path | str | Database", tracker_url: Path | str, days: int = 30,
              today: dt.date | None = None, procedure_name=None) -> dict:
    """The figures of the last ``days`` Vietnam dates up to ``today`` (inclusive), oldest first.

    ``app_database``: the app's data, ``Settings.app_database`` (the SQLite file or DATABASE_URL)
    or an open ``bot.db.Database``; a SQLite file that does not exist yet counts as empty.

    ``tracker_url``: Rasa's tracker store, ``Settings.tracker_url`` (SQLite or PostgreSQL) or a
    SQLite file's path.
    ``procedure_name(id)`` names a procedure for the top list (the id itself without it).
    """
    days = max(1, min(int(days), 366))
    today = today or clock.today()
    window = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    dates = set(window)
    since = dt.datetime.combine(window[0], dt.time(), clock.VN_TZ).astimezone(dt.timezone.utc)
    since_iso, since_ts = since.isoformat(timespec="microseconds"), since.timestamp()  # as the stores write times

    intents, procedures, turns, fallbacks = _nlu(tracker_url, since_ts, dates)
    app = readonly_db.app_database(app_database)
    conversations, messages, by_state, created, events = {}, {}, Counter(), Counter(), []
    if app is not None:
        with app.read() as tx:   # one state of the database for both
            conversations, messages = _conversations(tx, since_iso, dates)
            by_state, created = _dossiers(tx, since_iso, dates)
        # the handover events as the console's figures read them
        store = HandoverStore(app)
        try:
            events = store.events(since=since)
        finally:
            store.close()

    handovers = handover_figures(events, days=days, today=today)
    handed_by_day: Counter = Counter()
    for row in handovers.get("days", []):
        day = row.get("date")
        handed_by_day[str(day)] += row.get("handed_over") or 0
    channels = sorted(set(CHANNELS) | {ch for per in conversations.values() for ch in per})
    rows = []
    for day in window:
        per = conversations.get(day, {})
        total = sum(per.values())
        handed = handed_by_day.get(day.isoformat(), 0)
        rows.append({
            "date": day.isoformat(),
            "conversations": total,
            "by_channel": {ch: per.get(ch, 0) for ch in channels},
            "citizen_messages": messages.get(day, 0),
            "turns": turns.get(day, 0),
            "fallbacks": fallbacks.get(day, 0),
            "fallback_rate": _rate(fallbacks.get(day, 0), turns.get(day, 0)),
            "handovers": handed,
            "handover_rate": _rate(handed, total),
            "dossiers_created": created.get(day, 0),
        })
    total_conversations = sum(r["conversations"] for r in rows)
    total_turns = sum(turns.values())
    totals = handovers.get("totals", {})
    name = procedure_name or (lambda pid: pid)
    return {
        "days": days,
        "from": window[0].isoformat(),
        "to": today.isoformat(),
        "channels": channels,
        "rows": rows,
        "totals": {
            "conversations": total_conversations,
            "turns": total_turns,
            "fallbacks": sum(fallbacks.values()),
            "fallback_rate": _rate(sum(fallbacks.values()), total_turns),
            "handovers": totals.get("handed_over", 0),
            "handover_rate": _rate(totals.get("handed_over", 0), total_conversations),
            "wait_median_s": totals.get("wait_median_s"),
            "wait_p90_s": totals.get("wait_p90_s"),
            "ratings": totals.get("ratings", 0),
            "rating_avg": totals.get("rating_avg"),
            "dossiers_created": sum(created.values()),
        },
        "top_intents": [{"intent": k, "count": v} for k, v in intents.most_common(TOP)],
        "top_procedures": [{"id": k, "name": name(k) or k, "count": v} for k, v in procedures.most_common(TOP)],
        "dossiers_by_state": [{"state": s, "label": STATES[s].label if s in STATES else s, "count": n}
                              for s, n in sorted(by_state.items(), key=lambda kv: -kv[1])],
    }


CSV_HEADER = ["Ngày", "Cuộc trò chuyện", "Tin nhắn của người dân", "Lượt bot trả lời", "Không hiểu (nlu_fallback)",
              "Tỉ lệ không hiểu", "Chuyển cho người", "Tỉ lệ chuyển cho người", "Hồ sơ nháp tạo mới"]


def _csv_rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def dashboard_csv(figures: dict) -> str:
    """One row per day (then a total row), channels as extra columns; UTF-8 with BOM so
    spreadsheet programs read the Vietnamese headers right."""
    out = io.StringIO()
    writer = csv.writer(out)
    channels: Iterable[str] = figures["channels"]
    writer.writerow(CSV_HEADER + [f"Kênh {ch}" for ch in channels])
    for row in figures["rows"]:
        writer.writerow([row["date"], row["conversations"], row["citizen_messages"], row["turns"], row["fallbacks"],
                         _csv_rate(row["fallback_rate"]), row["handovers"], _csv_rate(row["handover_rate"]),
                         row["dossiers_created"]] + [row["by_channel"].get(ch, 0) for ch in channels])
    t = figures["totals"]
    writer.writerow(["Tổng", t["conversations"], sum(r["citizen_messages"] for r in figures["rows"]), t["turns"],
                     t["fallbacks"], _csv_rate(t["fallback_rate"]), t["handovers"], _csv_rate(t["handover_rate"]),
                     t["dossiers_created"]] + [sum(r["by_channel"].get(ch, 0) for r in figures["rows"]) for ch in channels])
    return "\ufeff" + out.getvalue()

"""The NLU inbox: citizen messages the bot did not handle well, collected from the existing stores
and grouped (see ``bot.learning``); volunteers' flags and staff's annotations in the app's database
(``bot/db.py``: the SQLite file or ``DATABASE_URL``; the tables are the migration's)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy

from bot import db as dbmod
from bot import readonly_db
from bot.learning.placeholders import group_key, placeholders

__all__ = ["REASONS", "LOW_CONFIDENCE", "LearningStore", "store_for", "Sighting", "InboxItem", "collect", "inbox",
           "tracker_parses", "item_id"]

REASONS = ("fallback", "low_confidence", "clarify", "handover", "none_of_these", "flagged")
LOW_CONFIDENCE = 0.6          # FallbackClassifier's threshold is 0.4 (config.yml): this is "unsure"
NONE_OF_THESE = "/none_of_these"
FORM_SLOT = "dossier_active"  # while it is true, citizens answer form questions (names, dates, numbers)
NOT_LEARNED = ("nlu_fallback", "none_of_these")   # never suggested for annotation


def item_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


# --- the app db's own tables -------------------------------------------------------------------

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class LearningStore:
    """Volunteers' flags and staff's annotations, beside the messages in the app's database (thread-safe).

    ``path``: a SQLite file, a SQLAlchemy URL (``DATABASE_URL``) or an open ``bot.db.Database``."""

    def __init__(self, path: "Path | str | dbmod.Database"):
        self.db = dbmod.database(path)

    def close(self) -> None:
        """Nothing to close: the process's ``Database`` is shared by every store (``bot.db``)."""

    def flag(self, conversation_id: str, message_id: int, by: str) -> bool:
        """Flag the bot message ``message_id`` as a wrong answer; False when it is not a bot message
        of that conversation. Flagging twice is one flag."""
        with self.db.write() as tx:
            row = tx.one("SELECT 1 AS found FROM messages WHERE id = ? AND conversation_id = ? AND direction = 'out'"
                         " AND author IS NULL", (int(message_id), conversation_id))
            if row is None:
                return False
            tx.execute("INSERT INTO learning_flags (conversation_id, message_id, flagged_by, flagged_at)"
                       " VALUES (?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
                       (conversation_id, int(message_id), by, _now()))
        return True

    def flags(self) -> list[dict]:
        return [dict(r) for r in self.db.all("SELECT * FROM learning_flags ORDER BY id")]

    def annotate(self, key: str, intent: str, procedure: str | None, example: str | None, file: str | None,
                 by: str) -> None:
        """Record (or replace) the annotation of the group ``key``."""
        self.db.execute(
            "INSERT INTO learning_annotations (key, intent, procedure, example, file, annotated_by, annotated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET intent = excluded.intent,"
            " procedure = excluded.procedure, example = excluded.example, file = excluded.file,"
            " annotated_by = excluded.annotated_by, annotated_at = excluded.annotated_at",
            (key, intent, procedure, example, file, by, _now()))

    def annotated(self) -> set[str]:
        return {r["key"] for r in self.db.all("SELECT key FROM learning_annotations")}


_STORE_LOCK = threading.Lock()


def store_for(app) -> LearningStore:
    """The app's ``LearningStore`` (``app.state.learning``), opened on first use on ``config.app_database``."""
    with _STORE_LOCK:
        store = getattr(app.state, "learning", None)
        if store is None:
            store = app.state.learning = LearningStore(app.state.config.app_database)
        return store


# --- collecting --------------------------------------------------------------------------------

@dataclass
class Sighting:
    """One typed citizen message the bot did not handle well, as stored (numbers masked)."""

    message_id: int
    conversation_id: str
    text: str
    at: str
    reasons: set[str] = field(default_factory=set)
    intent: str | None = None
    procedure: str | None = None


@dataclass
class InboxItem:
    id: str
    key: str
    text: str
    count: int
    reasons: list[str]
    last_seen: str
    intent: str | None
    procedure: str | None
    message_ids: list[int]

    def public(self) -> dict:
        return {"id": self.id, "text": self.text, "count": self.count, "reasons": self.reasons,
                "last_seen": self.last_seen, "suggested_intent": self.intent, "suggested_procedure": self.procedure}


def _parse(data: dict) -> dict:
    """What the NLU said about one user event: intent, confidence, best real intent, procedure."""
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name, confidence = intent.get("name"), float(intent.get("confidence") or 0)
    ranking = [r.get("name") for r in parse.get("intent_ranking") or [] if isinstance(r, dict)]
    best = next((r for r in ranking if r and r != "nlu_fallback"), None) if name == "nlu_fallback" else name
    procedure = next((e.get("value") for e in parse.get("entities") or []
                      if isinstance(e, dict) and e.get("entity") == "procedure" and isinstance(e.get("value"), str)),
                     None)
    candidates = [c.get("id") for c in parse.get("procedure_candidates") or [] if isinstance(c, dict)]
    return {"intent": name, "confidence": confidence, "best": best,
            "procedure": procedure or next((c for c in candidates if isinstance(c, str)), None)}


def tracker_parses(tracker_url: Path | str, since: float = 0.0) -> dict[int, dict]:
    """Our message id → the NLU's parse of it, from Rasa's tracker events since ``since`` (a Unix
    time), with ``in_form`` when a draft dossier's form was open (slot ``dossier_active``: the
    message answers a form question). The text is never used (Rasa keeps it as typed, numbers in clear).

    ``tracker_url``: ``Settings.tracker_url`` (SQLite or PostgreSQL), or a SQLite file's path."""
    from sqlalchemy import text

    found, in_form = {}, {}
    with readonly_db.open_tracker(tracker_url) as engine:
        if engine is None:
            return found
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT sender_id, type_name, data FROM events WHERE timestamp >= :since AND"
                                     " (type_name = 'user' OR type_name = 'slot' AND action_name = :slot)"
                                     " ORDER BY id"), {"since": since, "slot": FORM_SLOT})
            for sender_id, type_name, raw in rows:
                try:
                    data = json.loads(raw)
                except (TypeError, ValueError):
                    continue
                if type_name == "slot":
                    in_form[sender_id] = data.get("value") is True
                    continue
                message_id = (data.get("metadata") or {}).get("message_id")
                if isinstance(message_id, int):
                    found[message_id] = {**_parse(data), "in_form": in_form.get(sender_id, False)}
    return found


def _conversations(tx: dbmod.Transaction, since: str) -> dict[str, list]:
    """The messages since ``since``, per conversation, in order (rows are mappings)."""
    by_conversation: dict[str, list] = {}
    for row in tx.all("SELECT id, conversation_id, direction, text, payload, buttons, author, created_at"
                      " FROM messages WHERE created_at >= ? ORDER BY conversation_id, id", (since,)):
        by_conversation.setdefault(row["conversation_id"], []).append(row)
    return by_conversation


def _offers_none_of_these(row) -> bool:
    buttons = json.loads(row["buttons"]) if row["buttons"] else []
    return any(isinstance(b, dict) and b.get("payload") == NONE_OF_THESE for b in buttons)


def _walk(rows: list, parses: dict[int, dict], handovers: list[str], flagged: set[int]
          ) -> list[Sighting]:
    """The sightings of one conversation, in order.

    ``last`` is the latest typed question (not a button, not "a person"): a handover or a flagged
    answer after it is about it. ``recent`` is that question only while it is the latest citizen
    message: a clarifying reply, then "none of these", answer that very message.
    """
    sightings: dict[int, Sighting] = {}
    last = recent = None
    pending = sorted(handovers)
    for row in rows:
        if row["direction"] == "out":
            if recent is not None and row["author"] is None and _offers_none_of_these(row):
                recent.reasons.add("clarify")
            if last is not None and row["id"] in flagged:
                last.reasons.add("flagged")
            continue
        while pending and pending[0] < row["created_at"]:
            pending.pop(0)
            if last is not None:
                last.reasons.add("handover")
        parse = parses.get(row["id"], {})
        if row["payload"] == NONE_OF_THESE or parse.get("intent") == "none_of_these":
            if recent is not None:
                recent.reasons.add("none_of_these")
            recent = None
            continue
        recent = None
        if row["payload"] is not None or parse.get("intent") == "request_human" or not row["text"].strip() \
                or parse.get("in_form"):
            continue   # a button, "a person please", or a form answer (the dossier step reads it, whatever the intent)
        last = recent = sightings[row["id"]] = Sighting(
            row["id"], row["conversation_id"], row["text"], row["created_at"],
            intent=parse.get("best"), procedure=parse.get("procedure"))
        if parse.get("intent") == "nlu_fallback":
            last.reasons.add("fallback")
        elif parse and parse["confidence"] < LOW_CONFIDENCE:
            last.reasons.add("low_confidence")
    if pending and last is not None:
        last.reasons.add("handover")
    return [s for s in sightings.values() if s.reasons]


def _existing_database(target: "Path | str | dbmod.Database") -> dbmod.Database | None:
    """The app's database through ``bot.db``, or None when ``target`` is a SQLite file that does not
    exist yet (a fresh install has nothing to collect, and looking creates nothing)."""
    if isinstance(target, dbmod.Database):
        return target
    url = sqlalchemy.engine.make_url(dbmod.url_for(target))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        return None
    return dbmod.database(target)


def collect(app_db: "Path | str | dbmod.Database", tracker_url: Path | str, days: int = 90) -> list[Sighting]:
    """Every typed citizen message of the last ``days`` days the bot did not handle well.

    ``app_db``: the app's database as the stores open it (``Settings.app_database``, or the
    ``LearningStore``'s ``db``); ``tracker_url``: Rasa's tracker store, ``Settings.tracker_url`` or
    a SQLite file's path."""
    db = _existing_database(app_db)
    if db is None:
        return []
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    since = start.isoformat()
    with db.read() as tx:   # the handovers, flags and messages of one moment
        handovers: dict[str, list[str]] = {}
        for row in tx.all("SELECT conversation_id, requested_at FROM handovers"):
            handovers.setdefault(row["conversation_id"], []).append(row["requested_at"])
        flagged = {r["message_id"] for r in tx.all("SELECT message_id FROM learning_flags")}
        conversations = _conversations(tx, since)
    parses = tracker_parses(tracker_url, start.timestamp() - 3600)
    found = []
    for conversation_id, rows in conversations.items():
        found += _walk(rows, parses, handovers.get(conversation_id, []), flagged)
    return found


def inbox(sightings: list[Sighting], annotated: set[str] = frozenset()) -> list[InboxItem]:
    """The sightings grouped by ``group_key``, most frequent first (then the latest), annotated ones left out."""
    groups: dict[str, list[Sighting]] = {}
    for sighting in sightings:
        key = group_key(sighting.text)
        if key and key not in annotated:
            groups.setdefault(key, []).append(sighting)
    items = []
    for key, members in groups.items():
        latest = max(members, key=lambda s: s.at)
        reasons = Counter(r for s in members for r in s.reasons)
        intents = Counter(s.intent for s in members if s.intent and s.intent not in NOT_LEARNED)
        procedures = Counter(s.procedure for s in members if s.procedure)
        items.append(InboxItem(item_id(key), key, placeholders(latest.text), len(members),
                               [r for r in REASONS if r in reasons], latest.at,
                               intents.most_common(1)[0][0] if intents else None,
                               procedures.most_common(1)[0][0] if procedures else None,
                               [s.message_id for s in members]))
    items.sort(key=lambda item: item.last_seen, reverse=True)
    items.sort(key=lambda item: item.count, reverse=True)
    return items

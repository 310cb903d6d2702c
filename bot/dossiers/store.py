"""SQLite store for dossiers, their history and per-conversation form drafts.

Every write runs in one ``BEGIN IMMEDIATE`` transaction: either all of it happens or
nothing does. Answers are stored as JSON (they hold personal data: keep the database
file private); logs only ever show dossier codes and states.

Codes are random (``codes.new_code``: "HS-2026-K7Q4MP"); the per-year counter (``seq``) is
kept for ordering but never shown. Times come from ``bot.clock`` (Vietnam's year for the
code). A form draft remembers the app's message id of the last answer it applied
(``last_message_id``), so a retried message is not applied twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from bot import clock
from bot.textinput import normalise_input

from . import codes, states
from .codes import normalise_code
from .masking import phone_last4 as _last4

__all__ = ["DossierStore", "Dossier", "Event", "Draft", "DossierNotFound", "VN_TZ"]

log = logging.getLogger(__name__)
VN_TZ = clock.VN_TZ  # kept for older imports; use bot.clock
_LAST4 = re.compile(r"[0-9]{4}", re.ASCII)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dossiers (
    code            TEXT PRIMARY KEY,
    year            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    procedure_id    TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    form_id         TEXT,
    state           TEXT NOT NULL,
    answers         TEXT NOT NULL,
    phone_last4     TEXT,
    expected_date   TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX IF NOT EXISTS dossiers_conversation ON dossiers (conversation_id);
CREATE TABLE IF NOT EXISTS dossier_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dossier_code TEXT NOT NULL REFERENCES dossiers (code) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    note         TEXT
);
CREATE INDEX IF NOT EXISTS dossier_events_code ON dossier_events (dossier_code);
CREATE TABLE IF NOT EXISTS dossier_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS form_drafts (
    conversation_id TEXT PRIMARY KEY,
    procedure_id    TEXT NOT NULL,
    form_id         TEXT,
    answers         TEXT NOT NULL,
    current_field   TEXT,
    updated_at      TEXT NOT NULL,
    last_message_id INTEGER
);
"""
# Columns added after the first release: (table, column, SQL type), added to older files.
MIGRATIONS = [("form_drafts", "last_message_id", "INTEGER")]


class DossierNotFound(KeyError):
    """No dossier with that code."""


@dataclass(frozen=True)
class Dossier:
    code: str
    procedure_id: str
    conversation_id: str
    form_id: Optional[str]
    state: str
    answers: dict
    phone_last4: Optional[str]
    expected_date: Optional[dt.date]
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def state_label(self) -> str:
        return states.label(self.state)

    @property
    def next_steps(self) -> str:
        return states.next_steps(self.state)


@dataclass(frozen=True)
class Event:
    dossier_code: str
    at: dt.datetime
    from_state: Optional[str]
    to_state: str
    actor: str
    note: Optional[str]


@dataclass(frozen=True)
class Draft:
    conversation_id: str
    procedure_id: str
    form_id: Optional[str]
    answers: dict
    current_field: Optional[str]
    updated_at: dt.datetime
    last_message_id: Optional[int] = None   # the app's id of the last message applied to it


def _now_utc() -> dt.datetime:
    return clock.utcnow()


class DossierStore:
    """Dossiers in the SQLite file at ``path`` (created with its tables if missing).

    ``clock`` returns the current aware datetime (tests pass a fake one).
    """

    def __init__(self, path: Path | str, clock: Callable[[], dt.datetime] = _now_utc):
        self.path = str(path)
        self._clock = clock
        with contextlib.closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns of ``MIGRATIONS`` that an older database file lacks (idempotent, race-safe)."""
        with self._write() as conn:
            for table, column, sql_type in MIGRATIONS:
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
                    log.info("database: added column %s.%s", table, column)

    # -- plumbing ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _now(self) -> dt.datetime:
        return self._clock().astimezone(dt.timezone.utc)

    def _next_code(self, conn: sqlite3.Connection, year: int) -> tuple[str, int]:
        """A random code not yet used (``codes.new_code``) and the year's next counter value."""
        conn.execute("INSERT INTO dossier_counters (year, last) VALUES (?, 0) "
                     "ON CONFLICT (year) DO NOTHING", (year,))
        conn.execute("UPDATE dossier_counters SET last = last + 1 WHERE year = ?", (year,))
        seq = conn.execute("SELECT last FROM dossier_counters WHERE year = ?", (year,)).fetchone()[0]
        for _ in range(100):
            code = codes.new_code(year)
            if conn.execute("SELECT 1 FROM dossiers WHERE code = ?", (code,)).fetchone() is None:
                return code, seq
        raise RuntimeError("no free dossier code")  # 1 in 10^800 with a few million codes a year

    def _insert_event(self, conn: sqlite3.Connection, code: str, from_state: Optional[str],
                      to_state: str, actor: str, note: Optional[str], at: dt.datetime) -> None:
        conn.execute("INSERT INTO dossier_events (dossier_code, at, from_state, to_state, actor, note) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (code, at.isoformat(), from_state, to_state, actor, note))

    @staticmethod
    def _dossier(row: sqlite3.Row) -> Dossier:
        return Dossier(
            code=row["code"], procedure_id=row["procedure_id"], conversation_id=row["conversation_id"],
            form_id=row["form_id"], state=row["state"], answers=json.loads(row["answers"]),
            phone_last4=row["phone_last4"],
            expected_date=dt.date.fromisoformat(row["expected_date"]) if row["expected_date"] else None,
            created_at=dt.datetime.fromisoformat(row["created_at"]),
            updated_at=dt.datetime.fromisoformat(row["updated_at"]))

    def _row(self, conn: sqlite3.Connection, code: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM dossiers WHERE code = ?", (normalise_code(code),)).fetchone()
        if row is None:
            raise DossierNotFound(code)
        return row

    # -- dossiers -------------------------------------------------------------------------

    def create(self, procedure_id: str, conversation_id: str, answers: dict,
               form_id: Optional[str] = None, phone: Optional[str] = None,
               actor: str = "citizen", clear_draft: bool = True) -> Dossier:
        """A new dossier in state ``nhap`` with a new random code of the year ("HS-2026-K7Q4MP").

        ``phone`` (the contact number) is kept only as its last four digits, for access.
        With ``clear_draft`` the conversation's form draft is deleted in the same transaction.
        """
        now = self._now()
        year = now.astimezone(VN_TZ).year
        answers_json = json.dumps(answers, ensure_ascii=False, sort_keys=True)
        with self._write() as conn:
            code, seq = self._next_code(conn, year)
            conn.execute(
                "INSERT INTO dossiers (code, year, seq, procedure_id, conversation_id, form_id, state, "
                "answers, phone_last4, expected_date, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'nhap', ?, ?, NULL, ?, ?)",
                (code, year, seq, procedure_id, conversation_id, form_id, answers_json,
                 _last4(phone), now.isoformat(), now.isoformat()))
            self._insert_event(conn, code, None, "nhap", actor, None, now)
            if clear_draft:
                conn.execute("DELETE FROM form_drafts WHERE conversation_id = ?", (conversation_id,))
            row = self._row(conn, code)
        log.info("dossier %s created (%s)", code, procedure_id)
        return self._dossier(row)

    def update_answers(self, code: str, answers: dict, phone: Optional[str] = None,
                       actor: str = "citizen") -> Dossier:
        """Replace the answers of a dossier that is still a draft (state ``nhap``)."""
        now = self._now()
        with self._write() as conn:
            row = self._row(conn, code)
            if row["state"] != "nhap":
                raise states.InvalidTransition(
                    f"Hồ sơ đang ở trạng thái “{states.label(row['state'])}”, không sửa được nội dung nữa.")
            conn.execute("UPDATE dossiers SET answers = ?, phone_last4 = COALESCE(?, phone_last4), "
                         "updated_at = ? WHERE code = ?",
                         (json.dumps(answers, ensure_ascii=False, sort_keys=True), _last4(phone),
                          now.isoformat(), row["code"]))
            row = self._row(conn, code)
        log.info("dossier %s answers updated by %s", row["code"], actor)
        return self._dossier(row)

    def transition(self, code: str, to_state: str, actor: str, note: Optional[str] = None,
                   expected_date: Optional[dt.date] = None) -> Dossier:
        """Move a dossier to ``to_state`` and record it in its history.

        Raises :class:`states.InvalidTransition` for a change the life cycle forbids (or a
        missing note for ``can_bo_sung`` / ``tu_choi``). ``expected_date`` (the legal deadline)
        is saved when given. ``actor`` is a role or staff id, never a citizen's name.
        """
        now = self._now()
        with self._write() as conn:
            row = self._row(conn, code)
            states.check_transition(row["state"], to_state, note)
            conn.execute("UPDATE dossiers SET state = ?, updated_at = ?, "
                         "expected_date = COALESCE(?, expected_date) WHERE code = ?",
                         (to_state, now.isoformat(), expected_date.isoformat() if expected_date else None,
                          row["code"]))
            self._insert_event(conn, row["code"], row["state"], to_state, actor, note, now)
            from_state, row = row["state"], self._row(conn, code)
        log.info("dossier %s: %s -> %s by %s", row["code"], from_state, to_state, actor)
        return self._dossier(row)

    def get(self, code: str) -> Optional[Dossier]:
        """The dossier, without any access check (for staff tools and internal use)."""
        with self._read() as conn:
            try:
                return self._dossier(self._row(conn, code))
            except DossierNotFound:
                return None

    def get_for(self, code: str, conversation_id: Optional[str] = None,
                phone_last4: Optional[str] = None) -> Optional[Dossier]:
        """The dossier if the asker may see it: same conversation, or the right last 4 phone digits.

        Returns ``None`` both when the code does not exist and when access is refused, so
        codes cannot be probed. Callers must rate-limit phone_last4 attempts. Any input is
        normalised first ("５６７８" is "5678"); the digits are compared as bytes in constant time.
        """
        if not isinstance(code, str):
            return None
        dossier = self.get(code)
        if dossier is None:
            return None
        if isinstance(conversation_id, str) and conversation_id == dossier.conversation_id:
            return dossier
        given = normalise_input(phone_last4) if isinstance(phone_last4, (str, int)) else ""
        stored = dossier.phone_last4 or ""
        if _LAST4.fullmatch(given) and _LAST4.fullmatch(stored) and \
                hmac.compare_digest(given.encode("ascii"), stored.encode("ascii")):
            return dossier
        return None

    def list_for_conversation(self, conversation_id: str) -> list[Dossier]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM dossiers WHERE conversation_id = ? ORDER BY year, seq",
                                (conversation_id,)).fetchall()
        return [self._dossier(r) for r in rows]

    def history(self, code: str) -> list[Event]:
        """State changes, oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM dossier_events WHERE dossier_code = ? ORDER BY id",
                                (normalise_code(code),)).fetchall()
        return [Event(r["dossier_code"], dt.datetime.fromisoformat(r["at"]), r["from_state"],
                      r["to_state"], r["actor"], r["note"]) for r in rows]

    # -- form drafts ------------------------------------------------------------------------

    def save_draft(self, conversation_id: str, procedure_id: str, answers: dict,
                   form_id: Optional[str] = None, current_field: Optional[str] = None,
                   message_id: Optional[int] = None) -> Draft:
        """Create or replace the conversation's in-progress form (one per conversation).

        ``message_id``: the app's id of the message this save applies; kept (the highest
        seen) so that :meth:`already_applied` recognises a retried message. ``None`` keeps
        the previous value.
        """
        now = self._now()
        message_id = message_id if isinstance(message_id, int) and not isinstance(message_id, bool) else None
        with self._write() as conn:
            conn.execute(
                "INSERT INTO form_drafts (conversation_id, procedure_id, form_id, answers, current_field, "
                "updated_at, last_message_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id) "
                "DO UPDATE SET procedure_id = excluded.procedure_id, form_id = excluded.form_id, "
                "answers = excluded.answers, current_field = excluded.current_field, "
                "updated_at = excluded.updated_at, last_message_id = "
                "MAX(COALESCE(excluded.last_message_id, form_drafts.last_message_id), "
                "COALESCE(form_drafts.last_message_id, excluded.last_message_id))",
                (conversation_id, procedure_id, form_id, json.dumps(answers, ensure_ascii=False),
                 current_field, now.isoformat(), message_id))
            row = conn.execute("SELECT last_message_id FROM form_drafts WHERE conversation_id = ?",
                               (conversation_id,)).fetchone()
        return Draft(conversation_id, procedure_id, form_id, dict(answers), current_field, now,
                     row["last_message_id"] if row else None)

    def load_draft(self, conversation_id: str) -> Optional[Draft]:
        with self._read() as conn:
            r = conn.execute("SELECT * FROM form_drafts WHERE conversation_id = ?",
                             (conversation_id,)).fetchone()
        if r is None:
            return None
        return Draft(r["conversation_id"], r["procedure_id"], r["form_id"], json.loads(r["answers"]),
                     r["current_field"], dt.datetime.fromisoformat(r["updated_at"]), r["last_message_id"])

    @staticmethod
    def already_applied(draft: Optional[Draft], message_id: Optional[int]) -> bool:
        """Whether the message ``message_id`` (the app's increasing integer id) was already
        applied to ``draft``: the same or an older message delivered again (a retry)."""
        if draft is None or draft.last_message_id is None:
            return False
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return False
        return message_id <= draft.last_message_id

    def delete_draft(self, conversation_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM form_drafts WHERE conversation_id = ?",
                                (conversation_id,)).rowcount > 0

    # -- housekeeping -------------------------------------------------------------------------

    def purge_drafts(self, older_than_days: int = 30) -> int:
        """Delete draft dossiers (state ``nhap``) and form drafts untouched for that many days.

        Returns how many rows went. Codes are never reused (the counter is kept).
        """
        cutoff = (self._now() - dt.timedelta(days=older_than_days)).isoformat()
        with self._write() as conn:
            dossiers = conn.execute("DELETE FROM dossiers WHERE state = 'nhap' AND updated_at < ?",
                                    (cutoff,)).rowcount
            drafts = conn.execute("DELETE FROM form_drafts WHERE updated_at < ?", (cutoff,)).rowcount
        log.info("purged %d draft dossiers and %d form drafts", dossiers, drafts)
        return dossiers + drafts

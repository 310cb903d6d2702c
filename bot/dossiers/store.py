"""Dossiers, their history and per-conversation form drafts, in the app's database (``bot/db.py``:
SQLite or PostgreSQL; the tables are the baseline migration's).

Every write runs in one write transaction (``Database.write``: one writer at a time on both
engines): either all of it happens or nothing does, and the per-year counter is gap-free and
unique however many threads or processes create dossiers at once. Answers are stored as JSON
(they hold personal data: keep the database private); logs only ever show dossier codes and states.

Codes are random (``codes.new_code``: "HS-2026-K7Q4MP"); the per-year counter (``seq``) is
kept for ordering but never shown. Times come from ``bot.clock`` (Vietnam's year for the
code). A form draft remembers the app's message id of the last answer it applied
(``last_message_id``), so a retried message is not applied twice.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from bot import clock
from bot import db as dbmod
from bot.textinput import normalise_input

from . import codes, states
from .codes import normalise_code
from .masking import phone_last4 as _last4

__all__ = ["DossierStore", "Dossier", "Event", "Draft", "DossierNotFound", "VN_TZ"]

log = logging.getLogger(__name__)
VN_TZ = clock.VN_TZ  # kept for older imports; use bot.clock
_LAST4 = re.compile(r"[0-9]{4}", re.ASCII)


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
    """Dossiers in the app's database at ``path``: a SQLite file, a SQLAlchemy URL
    (``DATABASE_URL``) or an open ``bot.db.Database``.

    ``clock`` returns the current aware datetime (tests pass a fake one).
    """

    def __init__(self, path: "Path | str | dbmod.Database", clock: Callable[[], dt.datetime] = _now_utc):
        self.db = dbmod.database(path)
        self._clock = clock

    @property
    def path(self) -> Optional[str]:
        """The SQLite file (None on PostgreSQL)."""
        return str(self.db.path) if self.db.path is not None else None

    # -- plumbing ----------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self._clock().astimezone(dt.timezone.utc)

    def _next_code(self, tx: dbmod.Transaction, year: int) -> tuple[str, int]:
        """A random code not yet used (``codes.new_code``) and the year's next counter value
        (inside the creating write transaction: rolled back with it, so no gap)."""
        tx.execute("INSERT INTO dossier_counters (year, last) VALUES (?, 0) "
                   "ON CONFLICT (year) DO NOTHING", (year,))
        seq = tx.scalar("UPDATE dossier_counters SET last = last + 1 WHERE year = ? RETURNING last", (year,))
        for _ in range(100):
            code = codes.new_code(year)
            if tx.one("SELECT 1 AS found FROM dossiers WHERE code = ?", (code,)) is None:
                return code, seq
        raise RuntimeError("no free dossier code")  # 1 in 10^800 with a few million codes a year

    def _insert_event(self, tx: dbmod.Transaction, code: str, from_state: Optional[str],
                      to_state: str, actor: str, note: Optional[str], at: dt.datetime) -> None:
        tx.execute("INSERT INTO dossier_events (dossier_code, at, from_state, to_state, actor, note) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (code, at.isoformat(), from_state, to_state, actor, note))

    @staticmethod
    def _dossier(row: Mapping) -> Dossier:
        return Dossier(
            code=row["code"], procedure_id=row["procedure_id"], conversation_id=row["conversation_id"],
            form_id=row["form_id"], state=row["state"], answers=json.loads(row["answers"]),
            phone_last4=row["phone_last4"],
            expected_date=dt.date.fromisoformat(row["expected_date"]) if row["expected_date"] else None,
            created_at=dt.datetime.fromisoformat(row["created_at"]),
            updated_at=dt.datetime.fromisoformat(row["updated_at"]))

    def _row(self, tx: dbmod.Transaction, code: str) -> Mapping:
        row = tx.one("SELECT * FROM dossiers WHERE code = ?", (normalise_code(code),))
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
        with self.db.write() as tx:
            code, seq = self._next_code(tx, year)
            tx.execute(
                "INSERT INTO dossiers (code, year, seq, procedure_id, conversation_id, form_id, state, "
                "answers, phone_last4, expected_date, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'nhap', ?, ?, NULL, ?, ?)",
                (code, year, seq, procedure_id, conversation_id, form_id, answers_json,
                 _last4(phone), now.isoformat(), now.isoformat()))
            self._insert_event(tx, code, None, "nhap", actor, None, now)
            if clear_draft:
                tx.execute("DELETE FROM form_drafts WHERE conversation_id = ?", (conversation_id,))
            row = self._row(tx, code)
        log.info("dossier %s created (%s)", code, procedure_id)
        return self._dossier(row)

    def update_answers(self, code: str, answers: dict, phone: Optional[str] = None,
                       actor: str = "citizen") -> Dossier:
        """Replace the answers of a dossier that is still a draft (state ``nhap``)."""
        now = self._now()
        with self.db.write() as tx:
            row = self._row(tx, code)
            if row["state"] != "nhap":
                raise states.InvalidTransition(
                    f"Hồ sơ đang ở trạng thái “{states.label(row['state'])}”, không sửa được nội dung nữa.")
            tx.execute("UPDATE dossiers SET answers = ?, phone_last4 = COALESCE(?, phone_last4), "
                       "updated_at = ? WHERE code = ?",
                       (json.dumps(answers, ensure_ascii=False, sort_keys=True), _last4(phone),
                        now.isoformat(), row["code"]))
            row = self._row(tx, code)
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
        with self.db.write() as tx:
            row = self._row(tx, code)
            states.check_transition(row["state"], to_state, note)
            tx.execute("UPDATE dossiers SET state = ?, updated_at = ?, "
                       "expected_date = COALESCE(?, expected_date) WHERE code = ?",
                       (to_state, now.isoformat(), expected_date.isoformat() if expected_date else None,
                        row["code"]))
            self._insert_event(tx, row["code"], row["state"], to_state, actor, note, now)
            from_state, row = row["state"], self._row(tx, code)
        log.info("dossier %s: %s -> %s by %s", row["code"], from_state, to_state, actor)
        return self._dossier(row)

    def get(self, code: str) -> Optional[Dossier]:
        """The dossier, without any access check (for staff tools and internal use)."""
        with self.db.read() as tx:
            try:
                return self._dossier(self._row(tx, code))
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
        rows = self.db.all("SELECT * FROM dossiers WHERE conversation_id = ? ORDER BY year, seq",
                           (conversation_id,))
        return [self._dossier(r) for r in rows]

    def history(self, code: str) -> list[Event]:
        """State changes, oldest first."""
        rows = self.db.all("SELECT * FROM dossier_events WHERE dossier_code = ? ORDER BY id",
                           (normalise_code(code),))
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
        # Keep the highest id seen, in SQL both engines take (no two-argument MAX / GREATEST).
        with self.db.write() as tx:
            last_message_id = tx.scalar(
                "INSERT INTO form_drafts (conversation_id, procedure_id, form_id, answers, current_field, "
                "updated_at, last_message_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id) "
                "DO UPDATE SET procedure_id = excluded.procedure_id, form_id = excluded.form_id, "
                "answers = excluded.answers, current_field = excluded.current_field, "
                "updated_at = excluded.updated_at, last_message_id = CASE "
                "WHEN excluded.last_message_id IS NULL THEN form_drafts.last_message_id "
                "WHEN form_drafts.last_message_id IS NULL "
                "OR excluded.last_message_id > form_drafts.last_message_id THEN excluded.last_message_id "
                "ELSE form_drafts.last_message_id END "
                "RETURNING last_message_id",
                (conversation_id, procedure_id, form_id, json.dumps(answers, ensure_ascii=False),
                 current_field, now.isoformat(), message_id))
        return Draft(conversation_id, procedure_id, form_id, dict(answers), current_field, now, last_message_id)

    def load_draft(self, conversation_id: str) -> Optional[Draft]:
        r = self.db.one("SELECT * FROM form_drafts WHERE conversation_id = ?", (conversation_id,))
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
        return self.db.execute("DELETE FROM form_drafts WHERE conversation_id = ?", (conversation_id,)) > 0

    # -- housekeeping -------------------------------------------------------------------------

    def purge_drafts(self, older_than_days: int = 30) -> int:
        """Delete draft dossiers (state ``nhap``) and form drafts untouched for that many days.

        Returns how many rows went. Codes are never reused (the counter is kept).
        """
        cutoff = (self._now() - dt.timedelta(days=older_than_days)).isoformat()
        with self.db.write() as tx:
            dossiers = tx.execute("DELETE FROM dossiers WHERE state = 'nhap' AND updated_at < ?",
                                  (cutoff,)).rowcount
            drafts = tx.execute("DELETE FROM form_drafts WHERE updated_at < ?", (cutoff,)).rowcount
        self.db.vacuum_deleted()
        log.info("purged %d draft dossiers and %d form drafts", dossiers, drafts)
        return dossiers + drafts

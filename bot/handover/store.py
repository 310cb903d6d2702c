"""The handover's records, in the app's own database (``bot/db.py``: SQLite or PostgreSQL), beside the messages.

Tables:

- ``handovers``: one row per time a conversation was handed to people. ``state`` is ``waiting``
  (in the queue), ``claimed`` (a volunteer has it: the bot is silent) or ``closed`` (ended:
  ``outcome`` ``released`` — handed back to the bot — or ``closed``). A partial unique index
  allows at most one open (waiting or claimed) handover per conversation, and a claim is one
  conditional ``UPDATE … WHERE state = 'waiting'``: of two volunteers claiming at once exactly
  one changes the row, the other is told who has it.
- ``handover_events``: what happened, when, by whom — the only source of the figures
  (``bot.handover.figures``), so they cannot drift from what happened.
- ``handover_notes``: internal notes (the citizen never sees them).
- ``canned_replies``: the team's ready answers (mẫu câu), by short code.
- ``presence``: each volunteer's online / away / offline and when their console was last seen.
- ``callbacks``: a citizen's question and phone number left when nobody could take the chat.
  The number is kept in clear only until the call-back is done (then only its masked form);
  the chat history itself only ever shows it masked.
- ``callback_drafts``: a call-back request being collected (which step, the number so far).

Every method is synchronous and thread-safe (the app calls them in its thread pool).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bot import db as dbmod
from bot.dossiers.masking import mask

__all__ = ["HandoverStore", "Handover", "AlreadyClaimed", "NotFound", "Callback", "OPEN_STATES", "STATUSES"]

OPEN_STATES = ("waiting", "claimed")
STATUSES = ("online", "away", "offline")


class NotFound(LookupError):
    """No such conversation in the handover records (or no open handover)."""


class AlreadyClaimed(Exception):
    """Somebody else has the chat (``owner``), or it is not waiting any more."""

    def __init__(self, owner: str | None, state: str):
        super().__init__(owner or state)
        self.owner, self.state = owner, state


@dataclass(frozen=True)
class Handover:
    id: int
    conversation_id: str
    channel: str
    state: str
    reason: str
    procedure: str | None
    requested_at: str
    assigned_to: str | None
    team: str | None
    claimed_at: str | None
    last_citizen_at: str | None
    last_volunteer_at: str | None
    ended_at: str | None
    outcome: str | None
    close_reason: str | None
    paused: bool
    notified_position: int | None
    rating_asked_at: str | None
    rating: int | None
    rating_comment: str | None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Callback:
    id: int
    conversation_id: str
    channel: str
    procedure: str | None
    question: str
    phone: str | None        # clear only while open
    phone_masked: str
    state: str
    created_at: str
    done_at: str | None
    done_by: str | None

    def public(self, with_phone: bool) -> dict:
        return {"id": self.id, "phone": (self.phone if with_phone and self.phone else self.phone_masked),
                "question": self.question, "created_at": self.created_at, "state": self.state,
                "done_by": self.done_by}


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _handover(row) -> Handover | None:
    if row is None:
        return None
    values = dict(row)
    values["paused"] = bool(values["paused"])
    return Handover(**values)


def _callback(row) -> Callback | None:
    return Callback(**dict(row)) if row is not None else None


class HandoverStore:
    """The handover tables (thread-safe: every call is its own transaction; ``clock`` returns an
    aware datetime)."""

    def __init__(self, path: "Path | str | dbmod.Database", *, clock=None):
        """``path``: a SQLite file, a SQLAlchemy URL (``DATABASE_URL``) or an open ``Database``."""
        from bot import clock as vn_clock

        self._clock = clock or vn_clock.utcnow
        self.db = dbmod.database(path)

    def now(self) -> dt.datetime:
        return self._clock()

    def now_iso(self) -> str:
        return _iso(self._clock())

    def close(self) -> None:
        """Nothing to close: the process's ``Database`` keeps the connections (kept for callers)."""

    # --- events ----------------------------------------------------------------------------------

    def _event(self, tx: dbmod.Transaction, handover_id: int, conversation_id: str, kind: str,
               actor: str | None = None, team: str | None = None, detail: dict | None = None,
               at: str | None = None) -> int:
        return tx.insert(
            "INSERT INTO handover_events (handover_id, conversation_id, kind, actor, team, at, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (int(handover_id), conversation_id, kind, actor, team, at or self.now_iso(),
             json.dumps(detail or {}, ensure_ascii=False)))

    def events(self, since: dt.datetime | None = None, after_id: int = 0, limit: int | None = None) -> list[dict]:
        """Recorded events (oldest first), from ``since`` or with an id above ``after_id``."""
        query, params = "SELECT * FROM handover_events WHERE id > ?", [int(after_id)]
        if since is not None:
            query += " AND at >= ?"
            params.append(_iso(since))
        query += " ORDER BY id"
        if limit:
            query += f" LIMIT {int(limit)}"
        rows = self.db.all(query, params)
        return [{**dict(row), "detail": json.loads(row["detail"] or "{}")} for row in rows]

    def last_event_id(self) -> int:
        return int(self.db.scalar("SELECT COALESCE(MAX(id), 0) FROM handover_events"))

    # --- handovers -------------------------------------------------------------------------------

    @staticmethod
    def _row_by_id(tx: dbmod.Transaction, handover_id: int):
        return tx.one("SELECT * FROM handovers WHERE id = ?", (int(handover_id),))

    @staticmethod
    def _open_row(tx: dbmod.Transaction, conversation_id: str):
        """The conversation's waiting or claimed handover row."""
        return tx.one("SELECT * FROM handovers WHERE conversation_id = ? AND state != 'closed'", (conversation_id,))

    def get(self, handover_id: int) -> Handover | None:
        with self.db.read() as tx:
            return _handover(self._row_by_id(tx, handover_id))

    def open_for(self, conversation_id: str) -> Handover | None:
        """The conversation's waiting or claimed handover, if any."""
        with self.db.read() as tx:
            return _handover(self._open_row(tx, conversation_id))

    def latest_for(self, conversation_id: str) -> Handover | None:
        """The conversation's newest handover, open or not."""
        return _handover(self.db.one("SELECT * FROM handovers WHERE conversation_id = ? ORDER BY id DESC LIMIT 1",
                                     (conversation_id,)))

    def request(self, conversation_id: str, channel: str, reason: str,
                procedure: str | None = None) -> tuple[Handover, bool]:
        """Put the conversation in the queue; ``(handover, created)`` — the open one if it has one."""
        with self.db.write() as tx:
            row = self._open_row(tx, conversation_id)
            if row is not None:
                if procedure and not row["procedure"]:
                    tx.execute("UPDATE handovers SET procedure = ? WHERE id = ?", (procedure, row["id"]))
                return _handover(self._row_by_id(tx, row["id"])), False
            now = self.now_iso()
            handover_id = tx.insert(
                "INSERT INTO handovers (conversation_id, channel, state, reason, procedure, requested_at,"
                " last_citizen_at) VALUES (?, ?, 'waiting', ?, ?, ?, ?) RETURNING id",
                (conversation_id, channel, reason, procedure, now, now))
            self._event(tx, handover_id, conversation_id, "requested", detail={"reason": reason, "channel": channel},
                        at=now)
            return _handover(self._row_by_id(tx, handover_id)), True

    def waiting(self) -> list[Handover]:
        """The queue, oldest request first."""
        rows = self.db.all("SELECT * FROM handovers WHERE state = 'waiting' ORDER BY requested_at, id")
        return [_handover(r) for r in rows]

    def position(self, conversation_id: str) -> int | None:
        """1 for the first in the queue; None when the conversation is not waiting."""
        for index, handover in enumerate(self.waiting(), 1):
            if handover.conversation_id == conversation_id:
                return index
        return None

    def set_notified_position(self, handover_id: int, position: int | None) -> None:
        self.db.execute("UPDATE handovers SET notified_position = ? WHERE id = ?",
                        (None if position is None else int(position), int(handover_id)))

    def claim(self, conversation_id: str, username: str, team: str | None) -> Handover:
        """Give the waiting chat to ``username``: one conditional UPDATE, so of two claims one wins.

        Raises ``AlreadyClaimed`` (with the owner) when it is not waiting, ``NotFound`` when the
        conversation has no open handover.
        """
        with self.db.write() as tx:
            now = self.now_iso()
            changed = tx.execute(
                "UPDATE handovers SET state = 'claimed', assigned_to = ?, team = ?, claimed_at = ?,"
                " last_volunteer_at = NULL WHERE conversation_id = ? AND state = 'waiting'",
                (username, team, now, conversation_id)).rowcount
            row = self._open_row(tx, conversation_id)
            if row is None:
                raise NotFound(conversation_id)
            if not changed:
                raise AlreadyClaimed(row["assigned_to"], row["state"])
            self._event(tx, row["id"], conversation_id, "claimed", actor=username, team=team, at=now)
            return _handover(row)

    def assign(self, conversation_id: str, username: str, team: str | None, by: str) -> Handover:
        """A supervisor gives the open chat to ``username`` (waiting or claimed by someone else)."""
        with self.db.write() as tx:
            row = self._open_row(tx, conversation_id)
            if row is None:
                raise NotFound(conversation_id)
            now = self.now_iso()
            tx.execute("UPDATE handovers SET state = 'claimed', assigned_to = ?, team = ?,"
                       " claimed_at = COALESCE(claimed_at, ?), last_volunteer_at = NULL,"
                       " last_citizen_at = ? WHERE id = ?", (username, team, now, now, row["id"]))
            self._event(tx, row["id"], conversation_id, "assigned", actor=by, team=team,
                        detail={"username": username}, at=now)
            return _handover(self._row_by_id(tx, row["id"]))

    def set_paused(self, handover_id: int, paused: bool) -> None:
        self.db.execute("UPDATE handovers SET paused = ? WHERE id = ?", (int(bool(paused)), int(handover_id)))

    def citizen_wrote(self, handover_id: int) -> None:
        self.db.execute("UPDATE handovers SET last_citizen_at = ? WHERE id = ?", (self.now_iso(), int(handover_id)))

    def volunteer_replied(self, handover_id: int, username: str, team: str | None) -> None:
        with self.db.write() as tx:
            now = self.now_iso()
            tx.execute("UPDATE handovers SET last_volunteer_at = ? WHERE id = ?", (now, int(handover_id)))
            conversation_id = tx.scalar("SELECT conversation_id FROM handovers WHERE id = ?", (int(handover_id),))
            self._event(tx, handover_id, conversation_id, "replied", actor=username, team=team, at=now)

    def requeue(self, handover_id: int, why: str, actor: str | None = None) -> Handover | None:
        """Back to the queue (keeping its place by the first request time); None if it was not claimed."""
        with self.db.write() as tx:
            row = tx.one("SELECT * FROM handovers WHERE id = ? AND state = 'claimed'", (int(handover_id),))
            if row is None:
                return None
            tx.execute("UPDATE handovers SET state = 'waiting', assigned_to = NULL, team = NULL,"
                       " notified_position = NULL WHERE id = ?", (int(handover_id),))
            self._event(tx, handover_id, row["conversation_id"], "requeued", actor=actor or row["assigned_to"],
                        team=row["team"], detail={"why": why, "from": row["assigned_to"]})
            return _handover(self._row_by_id(tx, handover_id))

    def end(self, handover_id: int, outcome: str, actor: str, reason: str | None = None) -> Handover:
        """End an open handover: ``released`` (back to the bot) or ``closed``."""
        if outcome not in ("released", "closed"):
            raise ValueError(outcome)
        with self.db.write() as tx:
            row = tx.one("SELECT * FROM handovers WHERE id = ? AND state != 'closed'", (int(handover_id),))
            if row is None:
                raise NotFound(str(handover_id))
            now = self.now_iso()
            asked = now if outcome == "closed" else None
            tx.execute("UPDATE handovers SET state = 'closed', outcome = ?, close_reason = ?, ended_at = ?,"
                       " rating_asked_at = ? WHERE id = ?", (outcome, reason, now, asked, int(handover_id)))
            self._event(tx, handover_id, row["conversation_id"], outcome, actor=actor, team=row["team"],
                        detail={"reason": reason} if reason else {}, at=now)
            return _handover(self._row_by_id(tx, handover_id))

    def rate(self, handover_id: int, score: int, comment: str | None) -> bool:
        """Record the citizen's rating once; False if it was rated already or never asked."""
        with self.db.write() as tx:
            row = self._row_by_id(tx, handover_id)
            if row is None or row["rating"] is not None or row["rating_asked_at"] is None:
                return False
            tx.execute("UPDATE handovers SET rating = ?, rating_comment = ? WHERE id = ?",
                       (int(score), comment, int(handover_id)))
            self._event(tx, handover_id, row["conversation_id"], "rated", team=row["team"],
                        detail={"score": score, "comment": comment})
            return True

    def stale_claims(self, older_than: dt.datetime) -> list[Handover]:
        """Claimed chats whose last citizen message (or the claim) waits unanswered since before ``older_than``."""
        cutoff = _iso(older_than)
        # The later of the claim and the citizen's last message is before the cutoff: both are.
        rows = self.db.all(
            "SELECT * FROM handovers WHERE state = 'claimed'"
            " AND (last_volunteer_at IS NULL OR last_volunteer_at < COALESCE(last_citizen_at, claimed_at))"
            " AND claimed_at < ? AND COALESCE(last_citizen_at, claimed_at) < ?", (cutoff, cutoff))
        return [_handover(r) for r in rows]

    def claimed_by(self, username: str) -> list[Handover]:
        rows = self.db.all("SELECT * FROM handovers WHERE state = 'claimed' AND assigned_to = ?"
                           " ORDER BY claimed_at, id", (username,))
        return [_handover(r) for r in rows]

    def listing(self, state: str, team: str | None = None, all_teams: bool = False,
                assigned_to: str | None = None, limit: int = 100) -> list[Handover]:
        """Handovers in ``state`` (waiting: oldest first; others newest first), scoped to a team."""
        query, params = "SELECT * FROM handovers WHERE state = ?", [state]
        if assigned_to is not None:
            query += " AND assigned_to = ?"
            params.append(assigned_to)
        if state != "waiting" and not all_teams:
            if team is None:
                query += " AND team IS NULL"
            else:
                query += " AND team = ?"
                params.append(team)
        if state == "waiting":
            query += " ORDER BY requested_at, id"
        elif state == "closed":
            query += " ORDER BY ended_at DESC, id DESC"
        else:
            query += " ORDER BY claimed_at, id"
        query += f" LIMIT {int(limit)}"
        return [_handover(r) for r in self.db.all(query, params)]

    def recent_handling_seconds(self, limit: int = 20) -> list[float]:
        """How long the last ended handovers were handled (claim to end), for the wait estimate."""
        rows = self.db.all("SELECT claimed_at, ended_at FROM handovers WHERE state = 'closed'"
                           " AND claimed_at IS NOT NULL ORDER BY id DESC LIMIT ?", (int(limit),))
        return [(dt.datetime.fromisoformat(r["ended_at"]) - dt.datetime.fromisoformat(r["claimed_at"])).total_seconds()
                for r in rows]

    # --- messages of the app's own table (same database) -----------------------------------------

    def last_message(self, conversation_id: str) -> dict | None:
        row = self.db.one("SELECT text, created_at, direction FROM messages WHERE conversation_id = ?"
                          " ORDER BY id DESC LIMIT 1", (conversation_id,))
        return dict(row) if row else None

    def messages_after(self, after_id: int, limit: int = 200) -> list[dict]:
        """Messages with an id above ``after_id`` in conversations with an open handover."""
        rows = self.db.all(
            "SELECT m.id, m.conversation_id, m.direction, m.text, m.created_at, m.author FROM messages m"
            " JOIN handovers h ON h.conversation_id = m.conversation_id AND h.state != 'closed'"
            " WHERE m.id > ? ORDER BY m.id LIMIT ?", (int(after_id), int(limit)))
        return [dict(r) for r in rows]

    def last_message_id(self) -> int:
        return int(self.db.scalar("SELECT COALESCE(MAX(id), 0) FROM messages"))

    # --- notes -----------------------------------------------------------------------------------

    def add_note(self, conversation_id: str, author: str, text: str, handover_id: int | None) -> dict:
        with self.db.write() as tx:
            now = self.now_iso()
            note_id = tx.insert("INSERT INTO handover_notes (conversation_id, handover_id, author, text,"
                                " created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                                (conversation_id, None if handover_id is None else int(handover_id), author, text,
                                 now))
            self._event(tx, handover_id or 0, conversation_id, "note", actor=author, at=now)
        return {"id": note_id, "author": author, "text": text, "created_at": now}

    def notes(self, conversation_id: str) -> list[dict]:
        rows = self.db.all("SELECT id, author, text, created_at FROM handover_notes WHERE conversation_id = ?"
                           " ORDER BY id", (conversation_id,))
        return [dict(r) for r in rows]

    # --- canned replies --------------------------------------------------------------------------

    def canned(self) -> list[dict]:
        rows = self.db.all("SELECT code, text, updated_by, updated_at FROM canned_replies")
        # Sorted here, not by the database: the same order on both engines, whatever the collation.
        return sorted((dict(r) for r in rows), key=lambda r: r["code"])

    def save_canned(self, code: str, text: str, by: str) -> dict:
        now = self.now_iso()
        self.db.execute("INSERT INTO canned_replies (code, text, updated_by, updated_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (code) DO UPDATE SET text = excluded.text,"
                        " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                        (code, text, by, now))
        return {"code": code, "text": text, "updated_by": by, "updated_at": now}

    def delete_canned(self, code: str) -> bool:
        return self.db.execute("DELETE FROM canned_replies WHERE code = ?", (code,)) > 0

    def seed_canned(self, replies: Iterable[tuple[str, str]]) -> None:
        """Add the default canned replies once (when the table is empty)."""
        with self.db.write() as tx:
            if tx.scalar("SELECT COUNT(*) FROM canned_replies"):
                return
            now = self.now_iso()
            for code, text in replies:
                tx.execute("INSERT INTO canned_replies (code, text, updated_by, updated_at) VALUES (?, ?, NULL, ?)",
                           (code, text, now))

    # --- presence --------------------------------------------------------------------------------

    def set_presence(self, username: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        now = self.now_iso()
        self.db.execute("INSERT INTO presence (username, status, updated_at, seen_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (username) DO UPDATE SET status = excluded.status,"
                        " updated_at = excluded.updated_at, seen_at = excluded.seen_at",
                        (username, status, now, now))

    def seen(self, username: str) -> None:
        """The volunteer's console is alive (an API call, the event stream's heartbeat)."""
        self.db.execute("UPDATE presence SET seen_at = ? WHERE username = ?", (self.now_iso(), username))

    def presence(self) -> dict[str, dict]:
        return {r["username"]: dict(r) for r in self.db.all("SELECT * FROM presence")}

    def online(self, seen_since: dt.datetime) -> list[str]:
        """Volunteers marked online whose console was seen since ``seen_since``."""
        rows = self.db.all("SELECT username FROM presence WHERE status = 'online' AND seen_at >= ?",
                           (_iso(seen_since),))
        return [r["username"] for r in rows]

    def gone(self, seen_before: dt.datetime) -> list[str]:
        """Volunteers not marked offline whose console was last seen before ``seen_before``."""
        rows = self.db.all("SELECT username FROM presence WHERE status != 'offline' AND seen_at < ?",
                           (_iso(seen_before),))
        return [r["username"] for r in rows]

    # --- call-backs ------------------------------------------------------------------------------

    def callback_draft(self, conversation_id: str, newer_than: dt.datetime) -> dict | None:
        row = self.db.one("SELECT * FROM callback_drafts WHERE conversation_id = ? AND created_at >= ?",
                          (conversation_id, _iso(newer_than)))
        return dict(row) if row else None

    def start_callback(self, conversation_id: str) -> None:
        """A new draft (replacing one the conversation had): the number is asked first."""
        self.db.execute("INSERT INTO callback_drafts (conversation_id, step, phone, created_at)"
                        " VALUES (?, 'phone', NULL, ?) ON CONFLICT (conversation_id) DO UPDATE SET"
                        " step = excluded.step, phone = excluded.phone, created_at = excluded.created_at",
                        (conversation_id, self.now_iso()))

    def callback_phone(self, conversation_id: str, phone: str) -> None:
        self.db.execute("UPDATE callback_drafts SET step = 'question', phone = ?, created_at = ?"
                        " WHERE conversation_id = ?", (phone, self.now_iso(), conversation_id))

    def drop_callback_draft(self, conversation_id: str) -> None:
        self.db.execute("DELETE FROM callback_drafts WHERE conversation_id = ?", (conversation_id,))

    def add_callback(self, conversation_id: str, channel: str, question: str, phone: str,
                     procedure: str | None) -> Callback:
        with self.db.write() as tx:
            now = self.now_iso()
            callback_id = tx.insert(
                "INSERT INTO callbacks (conversation_id, channel, procedure, question, phone, phone_masked, state,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?) RETURNING id",
                (conversation_id, channel, procedure, question, phone, mask(phone), now))
            tx.execute("DELETE FROM callback_drafts WHERE conversation_id = ?", (conversation_id,))
            self._event(tx, 0, conversation_id, "callback_requested", detail={"callback_id": callback_id}, at=now)
            return _callback(tx.one("SELECT * FROM callbacks WHERE id = ?", (callback_id,)))

    def callback(self, callback_id: int) -> Callback | None:
        return _callback(self.db.one("SELECT * FROM callbacks WHERE id = ?", (int(callback_id),)))

    def callbacks(self, state: str = "open", limit: int = 100) -> list[Callback]:
        rows = self.db.all("SELECT * FROM callbacks WHERE state = ? ORDER BY id LIMIT ?", (state, int(limit)))
        return [_callback(r) for r in rows]

    def callback_done(self, callback_id: int, by: str, team: str | None) -> Callback | None:
        """Mark done; the clear number is erased (only the masked one stays)."""
        with self.db.write() as tx:
            changed = tx.execute("UPDATE callbacks SET state = 'done', phone = NULL, done_at = ?, done_by = ?"
                                 " WHERE id = ? AND state = 'open'",
                                 (self.now_iso(), by, int(callback_id))).rowcount
            found = _callback(tx.one("SELECT * FROM callbacks WHERE id = ?", (int(callback_id),)))
            if changed and found:
                self._event(tx, 0, found.conversation_id, "callback_done", actor=by, team=team,
                            detail={"callback_id": callback_id})
        return found

    def open_callbacks(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM callbacks WHERE state = 'open'"))

    # --- retention -------------------------------------------------------------------------------

    def purge(self, older_than: dt.datetime) -> int:
        """Delete ended handovers, notes, call-backs and events older than ``older_than`` (the
        retention period: figures reach back that far at most); on SQLite the write-ahead log is
        truncated after, so no deleted text lingers there."""
        cutoff = _iso(older_than)
        with self.db.write() as tx:
            removed = tx.execute("DELETE FROM handovers WHERE state = 'closed' AND ended_at < ?", (cutoff,)).rowcount
            tx.execute("DELETE FROM handover_notes WHERE created_at < ?", (cutoff,))
            tx.execute("DELETE FROM callbacks WHERE created_at < ?", (cutoff,))
            tx.execute("DELETE FROM callback_drafts WHERE created_at < ?", (cutoff,))
            tx.execute("DELETE FROM handover_events WHERE at < ?", (cutoff,))
        self.db.vacuum_deleted()
        return removed

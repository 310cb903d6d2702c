"""Staff operations on dossiers: one function per operation, shared by the CLI and the HTTP API.

    from bot import settings, staff
    config = settings.load()
    staff.change_state(config, "HS-2026-000123", "da_tiep_nhan", actor="canbo:lan", note="…")
    staff.show(config, "HS-2026-000123")        # dict: dossier + history, ID/phone numbers masked
    staff.list_dossiers(config, state="da_nop")  # [dict], newest change first
    staff.purge(config)                          # drafts older than DRAFT_RETENTION_DAYS
    staff.dossier_pdf(config, "HS-2026-000123")  # bytes of the filled form, or None

``change_state`` raises ``InvalidTransition`` (Vietnamese message) for a change the life
cycle forbids and ``DossierNotFound`` for an unknown code; nothing is recorded then.
After a change the citizen is told in their conversation: an outgoing message in the app's
message store (the web chat polls its history) and ``deliver_to_channel`` for other channels.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from typing import Any, Optional

from bot.dossiers import (STATES, DossierNotFound, DossierStore, InvalidTransition, add_working_days, checklist,
                          render_checklist_pdf, render_pdf, states)
from bot.dossiers.forms import MASKED_TYPES, Form, FormSession, default_forms
from bot.dossiers.masking import mask
from bot import clock, readonly_db
from bot.dossiers.store import Dossier, normalise_code
from bot.delivery import Delivery
from bot.dossiers.validators import format_date
from bot.outbox import Outbox
from bot.settings import Settings
from bot.store import MessageStore
from procedures import Procedure, default_catalogue
from procedures.model import national_source

__all__ = ["change_state", "show", "list_dossiers", "purge", "purge_access_log", "failed_messages", "dossier_pdf", "describe", "notification_text",
           "deliver_to_channel", "form_of", "procedure_of", "expected_working_days", "DossierNotFound",
           "InvalidTransition", "UnknownState"]

log = logging.getLogger(__name__)
DEFAULT_CHANNEL = "web"
# States in which the citizen still waits for the result: the expected date is worth repeating.
_WAITING = {"da_nop", "da_tiep_nhan", "dang_xu_ly"}


class UnknownState(ValueError):
    """A state id that does not exist (message in Vietnamese)."""


def _check_state(state: str) -> None:
    if state not in STATES:
        known = ", ".join(f"{s} ({STATES[s].label})" for s in STATES)
        raise UnknownState(f"Trạng thái không tồn tại: “{state}”. Các trạng thái: {known}.")


def _today() -> dt.date:
    return clock.today()


# --- lookups ----------------------------------------------------------------------------------

def procedure_of(dossier: Dossier) -> Optional[Procedure]:
    return default_catalogue().get(dossier.procedure_id)


def form_of(dossier: Dossier) -> Optional[Form]:
    """The form the dossier was filled in: its ``form_id``, else the one its answers select."""
    form = default_forms().get(dossier.form_id) if dossier.form_id else None
    if form is not None:
        return form
    try:
        return FormSession(dossier.procedure_id).form_for(dossier.answers)
    except (KeyError, LookupError):
        return None


def expected_working_days(procedure: Optional[Procedure]) -> Optional[int]:
    """Working days to settle, from the catalogue (None when unknown)."""
    return procedure.working_days() if procedure is not None else None


# --- the citizen's notification ---------------------------------------------------------------

def notification_text(dossier: Dossier, note: Optional[str] = None) -> str:
    """What the citizen reads after a state change: code, procedure, state, note, next steps, date.

    Only things the citizen already has (no ID or phone numbers, no form answers).
    """
    procedure = procedure_of(dossier)
    name = procedure.name if procedure else dossier.procedure_id
    lines = [f"Hồ sơ {dossier.code} ({name}) đã chuyển sang trạng thái: {dossier.state_label}."]
    if note and note.strip():
        lines.append(f"Ghi chú: {note.strip()}")
    lines.append(f"Bước tiếp theo: {dossier.next_steps}")
    if dossier.expected_date and dossier.state in _WAITING:
        lines.append(f"Dự kiến có kết quả: {format_date(dossier.expected_date)}.")
    return "\n".join(lines)


def deliver_to_channel(config: Settings, conversation_id: str, channel: str, text: str) -> None:
    """Queue ``text`` for a conversation on a platform channel (Telegram, Zalo) in the outbox.

    The message is already in the app's message store, which is all the web chat needs (it
    reads and is pushed its history). Works from the staff CLI too: the app's outbox worker
    sends what another process queued. Must not raise: a failure is logged, the stored
    message stays.
    """
    Delivery(Outbox(config.app_database)).send(conversation_id, channel, [{"text": text, "buttons": []}])


def _last_channel(messages: MessageStore, conversation_id: str) -> str:
    history = messages.history(conversation_id)
    return history[-1]["channel"] if history else DEFAULT_CHANNEL


def _notify(config: Settings, messages: MessageStore, dossier: Dossier, note: Optional[str]) -> None:
    text = notification_text(dossier, note)
    channel = _last_channel(messages, dossier.conversation_id)
    messages.add(dossier.conversation_id, "out", text, channel=channel)
    try:
        deliver_to_channel(config, dossier.conversation_id, channel, text)
    except Exception as error:  # noqa: BLE001 — delivery is best effort; the message is stored
        log.error("dossier %s: delivery to %s failed: %s", dossier.code, channel, type(error).__name__)


# --- operations ---------------------------------------------------------------------------------

def change_state(config: Settings, code: str, to_state: str, actor: str, note: Optional[str] = None, *,
                 today: Optional[dt.date] = None, messages: Optional[MessageStore] = None) -> Dossier:
    """Move dossier ``code`` to ``to_state`` on behalf of ``actor`` (a staff id), then tell the citizen.

    Entering ``da_nop`` or ``da_tiep_nhan`` sets the expected date from the catalogue's working days.
    ``messages`` is the app's open message store (a new one on ``config.app_database`` if None).
    """
    _check_state(to_state)
    note = (note or "").strip() or None
    store = DossierStore(config.app_database)
    current = store.get(code)
    if current is None:
        raise DossierNotFound(normalise_code(code))
    expected = None
    if to_state in ("da_nop", "da_tiep_nhan"):  # the time limit counts from submission / reception
        days = expected_working_days(procedure_of(current))
        expected = add_working_days(today or _today(), days) if days is not None else None
    dossier = store.transition(current.code, to_state, actor=actor, note=note, expected_date=expected)
    _notify(config, messages or MessageStore(config.app_database), dossier, note)
    return dossier


def _answers_view(dossier: Dossier) -> list[dict]:
    """The answers as staff see them: label and display value, ID and phone numbers masked."""
    form = form_of(dossier)
    if form is None:
        personal = lambda key: any(kind in key for kind in MASKED_TYPES)  # noqa: E731  (phone, *_personal_id)
        return [{"key": k, "label": k, "value": mask(v) if personal(k) else v}
                for k, v in dossier.answers.items() if v not in (None, "")]
    view = []
    for f in form.fields:
        value = dossier.answers.get(f.key)
        if value not in (None, ""):
            view.append({"key": f.key, "label": f.label, "value": f.display(value, masked=True)})
    return view


def _summary(dossier: Dossier) -> dict:
    procedure = procedure_of(dossier)
    return {
        "code": dossier.code,
        "procedure_id": dossier.procedure_id,
        "procedure_name": procedure.name if procedure else None,
        "form_id": dossier.form_id,
        "state": dossier.state,
        "state_label": dossier.state_label,
        "expected_date": dossier.expected_date.isoformat() if dossier.expected_date else None,
        "created_at": dossier.created_at.isoformat(),
        "updated_at": dossier.updated_at.isoformat(),
    }


def describe(store: DossierStore, dossier: Dossier) -> dict:
    """``show``'s dict for a dossier already loaded."""
    return {
        **_summary(dossier),
        "next_states": sorted(states.TRANSITIONS[dossier.state]),
        "answers": _answers_view(dossier),
        "history": [{"at": e.at.isoformat(), "from_state": e.from_state, "to_state": e.to_state,
                     "actor": e.actor, "note": e.note} for e in store.history(dossier.code)],
    }


def show(config: Settings, code: str) -> dict:
    """The dossier, its answers (ID and phone numbers masked) and its history, oldest first."""
    store = DossierStore(config.app_database)
    dossier = store.get(code)
    if dossier is None:
        raise DossierNotFound(normalise_code(code))
    return describe(store, dossier)


def list_dossiers(config: Settings, state: Optional[str] = None, limit: int = 50) -> list[dict]:
    """Dossiers (no personal data), most recently changed first, optionally in one state."""
    if state is not None:
        _check_state(state)
    store = DossierStore(config.app_database)
    query = "SELECT * FROM dossiers"
    params: list[Any] = []
    if state is not None:
        query += " WHERE state = ?"
        params.append(state)
    query += " ORDER BY updated_at DESC, code DESC LIMIT ?"
    params.append(max(1, int(limit)))
    # One query for the page (the rows read as DossierStore.get reads them), not one per dossier.
    return [_summary(store._dossier(row)) for row in store.db.all(query, params)]


def purge(config: Settings, messages: Optional[MessageStore] = None) -> int:
    """Delete what is older than DRAFT_RETENTION_DAYS: drafts (dossiers still ``nhap``, form
    drafts), the app's chat messages, and Rasa's conversation events (they hold what citizens
    typed). Rasa's own in-memory cache drops conversations older than that by itself
    (``bot/tracker_store.py``). Also the staff access log's entries older than
    ACCESS_LOG_RETENTION_DAYS (``purge_access_log``). Deletion is secure (SQLite ``secure_delete``); Rasa's events are
    deleted at ``config.tracker_url`` (SQLite, or PostgreSQL with DATABASE_URL)."""
    days = config.draft_retention_days
    removed = DossierStore(config.app_database).purge_drafts(older_than_days=days)
    removed += (messages or MessageStore(config.app_database)).purge(days)
    removed += purge_tracker_events(config.tracker_url, days)
    purge_access_log(config)
    return removed


def purge_access_log(config: Settings) -> int:
    """Delete audit-log entries (``bot.access_log``) older than ACCESS_LOG_RETENTION_DAYS; how many went.
    Called by ``purge`` (not counted in its total: they are not citizens' data)."""
    from bot.access_log import AccessLog

    access_log = AccessLog(config.app_database)
    try:
        removed = access_log.purge(config.access_log_retention_days)
    finally:
        access_log.close()
    log.info("purged %d access-log entries older than %d days", removed, config.access_log_retention_days)
    return removed


def failed_messages(config: Settings, limit: int = 100, messages: Optional[MessageStore] = None) -> list[dict]:
    """What could not be done, newest first: citizen messages whose turn failed MAX_ATTEMPTS times
    (``direction`` "in", text as stored, numbers masked) and replies the outbox gave up sending to
    Telegram / Zalo (``direction`` "out", no text kept). Each: id, conversation, channel,
    attempts, error (no personal data), time."""
    keys = ("id", "conversation_id", "channel", "text", "attempts", "error", "created_at")
    rows = [{**{k: row[k] for k in keys}, "direction": "in"}
            for row in (messages or MessageStore(config.app_database)).failed(limit)]
    rows += [{"id": row["id"], "conversation_id": row["conversation_id"], "channel": row["channel"],
              "text": "", "attempts": row["attempts"], "error": row["error"], "created_at": row["created_at"],
              "direction": "out"} for row in Outbox(config.app_database).failed(limit)]
    return sorted(rows, key=lambda row: row["created_at"], reverse=True)[:limit]


def purge_tracker_events(url, older_than_days: int, now: Optional[float] = None) -> int:
    """Delete events older than ``older_than_days`` from Rasa's SQL tracker store at ``url``
    (``Settings.tracker_url``, or a SQLite file's path), if it exists; the number deleted
    (``readonly_db.delete_tracker_events``: secure_delete and the WAL checkpointed on SQLite)."""
    cutoff = (now or time.time()) - older_than_days * 86400
    return readonly_db.delete_tracker_events(url, "timestamp < :cutoff", {"cutoff": cutoff})


def dossier_pdf(config: Settings, code: str, today: Optional[dt.date] = None) -> Optional[bytes]:
    """The filled form of ``code`` as PDF, with the checklist of papers on the last page.

    A generic draft (its form is not printed, ``pdf: false``) gets its printed checklist.
    ``None`` when there is no such dossier.
    Access control is the caller's business (signed links, see ``bot.dossiers.tokens``).
    """
    dossier = DossierStore(config.app_database).get(code)
    form = form_of(dossier) if dossier is not None else None
    if form is None or not (form.has_pdf or form.is_generic):
        return None
    procedure = procedure_of(dossier)
    if not form.has_pdf:  # the generic draft: a printed checklist of the citizen's case
        if procedure is None:
            return None
        items = checklist(procedure, dossier.answers, today=today)
        catalogue = default_catalogue()
        source = "\n".join(national_source(procedure)) if catalogue.is_imported(procedure.id) else None
        return render_checklist_pdf(procedure, dossier.answers, dossier.code, items, source=source, today=today)
    items = None
    if procedure is not None:
        with contextlib.suppress(KeyError, ValueError, LookupError):
            items = checklist(procedure, dossier.answers, today=today)
    return render_pdf(form, dossier.answers, dossier.code, items, today=today)

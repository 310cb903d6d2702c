"""One citizen's data on request: find it, export it, delete it — in every store.

    from bot import privacy, settings
    config = settings.load()
    privacy.find_citizen(config, dossier_code="HS-2026-K7Q4MP")   # {"web-…"}: the conversation ids
    privacy.export_citizen(config, conversation_id="telegram:123456789")   # dict, JSON-able
    privacy.delete_citizen(config, dossier_code="HS-2026-K7Q4MP", by=Accessor("quan.tri", "admin", "…"))

**How a citizen is found.** Everything the app keeps is keyed by a conversation id, and Rasa's
tracker events by the same id as ``sender_id`` (``bot.conversations.Router`` sends each turn to
Rasa with the conversation id as sender). A request names one of:

- a **dossier code** (``dossier_code``): what a citizen has on paper and can show at the counter
  with their ID; it leads to the conversation the dossier was filled in (its ``conversation_id``),
  and so to all of that conversation — its messages, its other dossiers, its handovers.
- a **conversation id** (``conversation_id``): a web chat's ``web-…`` id (the chat page keeps it in
  the browser's storage), or a platform conversation, which is ``telegram:<user id>`` /
  ``zalo:<user id>`` (``channels.base.conversation_id``): one conversation per platform user.
- a **Telegram / Zalo user id** (``channel_user``: ``"telegram:123456789"`` or ``("zalo", "…")``):
  the same thing as that conversation id, for callers that hold the platform's user id (staff
  find it in the console, or in the citizen's dossier's conversation).

Checking that the person asking is that citizen (ID card at the counter, the dossier's phone
number) is the staff member's business, as for any paper request. There is no lookup by name or
phone number: the stores keep numbers masked, and names only inside dossier answers.

**What is covered.** The app's database (``bot.db``: ``Settings.app_database``, the SQLite file
``bot.db`` or DATABASE_URL's PostgreSQL): ``messages``, ``dossiers``,
``dossier_events``, ``form_drafts``, ``handovers``, ``handover_events``, ``handover_notes``,
``callbacks``, ``callback_drafts``, ``inbox``, ``outbox``, ``learning_flags``; the rate limits
(``bot.ratelimit``: the file ``limits.db``, or Redis with REDIS_URL: hits per conversation and
phone-digit guesses per conversation, stored as HMAC digests of the key — found by the limiter
computing the same digests); Rasa's tracker events at
``config.tracker_url`` (SQLite or PostgreSQL). Not covered, because nothing links them to a
conversation: rate-limit hits per client address (kept 24 h), training examples made from the NLU
inbox (personal data replaced by placeholders before they are written) and the audit log
``access_log`` (ids only, no content; kept ACCESS_LOG_RETENTION_DAYS, and it records the export or
deletion itself — the export includes its rows about the citizen's ids).

**Export** returns every row about those conversations, as stored: dossier answers in clear (the
citizen's own data), messages as stored (numbers masked, the text as typed while still pending),
the tracker's events with their JSON decoded. It is never logged; the caller writes it to a
private file (CLI) or an attachment (admin API).

**Deletion** deletes in one transaction per database (the app's, the rate limits — one Redis
``DEL`` there —, the tracker store), SQLite with ``secure_delete`` on and the WAL checkpointed and truncated
afterwards (``Database.vacuum_deleted`` for the app's), so neither free pages nor the WAL keep
the text. The tracker store goes first (a
remote PostgreSQL is the likeliest to fail; then nothing else was touched), then the app's
database, then the rate limits: a failure leaves each database whole, either all deleted or
untouched, and running the deletion again finishes the job. An open handover (waiting or claimed) is
first closed through the handover store (``HandoverStore.end``: outcome ``closed``, reason "Xóa dữ
liệu theo yêu cầu của người dân"), then deleted with the rest; one ``handover_events`` row of kind
``erased`` without any conversation id is left so that every open console refreshes its lists.
Nothing is sent to the citizen. Rasa's in-memory tracker cache drops the conversation by itself
(its stored max event id changed, ``bot.tracker_store``). On PostgreSQL the deleted rows are gone
for every reader at once; their space is reclaimed by PostgreSQL's (auto)vacuum.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from bot import ratelimit, readonly_db
from bot.access_log import AccessLog, Accessor
from bot.db import Database, Transaction
from bot.ratelimit import RateLimiter
from bot.settings import Settings

__all__ = ["find_citizen", "export_citizen", "delete_citizen", "BadRequest", "APP_TABLES", "STORE_LABELS",
           "Accessor"]

log = logging.getLogger(__name__)

_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$", re.ASCII)   # as bot.conversations accepts
_CHANNEL_USER = re.compile(r"^(telegram|zalo):([A-Za-z0-9_.@-]{1,100})$", re.ASCII)
PLATFORMS = ("telegram", "zalo")
CLOSE_REASON = "Xóa dữ liệu theo yêu cầu của người dân"
ERASED_KIND = "erased"

# The app database's tables holding a citizen's rows, keyed by conversation id (dossier_events by
# the codes of the conversation's dossiers), in deletion order (events before their dossiers).
APP_TABLES = ("messages", "dossier_events", "dossiers", "form_drafts", "handover_events", "handover_notes",
              "handovers", "callbacks", "callback_drafts", "inbox", "outbox", "learning_flags")
STORE_LABELS = {
    "messages": "tin nhắn trong lịch sử trò chuyện",
    "dossiers": "hồ sơ",
    "dossier_events": "dòng lịch sử trạng thái hồ sơ",
    "form_drafts": "tờ khai đang điền dở",
    "handovers": "lượt chuyển cho tư vấn viên",
    "handover_events": "sự kiện của bàn hỗ trợ",
    "handover_notes": "ghi chú nội bộ của tư vấn viên",
    "callbacks": "yêu cầu gọi lại",
    "callback_drafts": "yêu cầu gọi lại đang nhập dở",
    "inbox": "tin nhận từ Telegram/Zalo (hàng đợi)",
    "outbox": "tin gửi Telegram/Zalo (hàng đợi)",
    "learning_flags": "báo “trả lời sai”",
    "rate_limits": "lượt đếm giới hạn tốc độ",
    "tracker_events": "sự kiện hội thoại của Rasa",
}
# Rate-limit keys that name a conversation, with the purpose of the HMAC key each writer derives
# from BOT_SECRET (bot.app: per-conversation message limit; actions.dossiers: phone-digit guesses).
RATE_LIMIT_KEYS = (("conversation:{id}", "rate-limit"), ("guess-client:{id}", "rate-limit-keys"))

BAD_BOTH = "Chỉ ghi một trong hai: mã cuộc trò chuyện hoặc mã hồ sơ."
BAD_NONE = "Cần mã cuộc trò chuyện (ví dụ web-…, telegram:123456789) hoặc mã hồ sơ (ví dụ HS-2026-K7Q4MP)."
BAD_CONVERSATION = ("Mã cuộc trò chuyện không hợp lệ: tối đa 128 ký tự chữ không dấu, số và . _ : @ - "
                    "(ví dụ web-…, telegram:123456789, zalo:…).")
BAD_DOSSIER = "Mã hồ sơ không hợp lệ (ví dụ HS-2026-K7Q4MP)."
BAD_CHANNEL_USER = "Mã người dùng không hợp lệ: cần telegram:<mã> hoặc zalo:<mã>."


class BadRequest(ValueError):
    """A request that names no citizen, or names one badly (Vietnamese message)."""


# --- finding --------------------------------------------------------------------------------------

def _channel_user(value: Union[str, tuple, list]) -> str:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        value = f"{value[0]}:{value[1]}"
    if not isinstance(value, str) or not _CHANNEL_USER.match(value.strip()):
        raise BadRequest(BAD_CHANNEL_USER)
    return value.strip()


def _request(conversation_id, dossier_code, channel_user) -> tuple[str, str]:
    """(kind, value) of a well-formed request: kind "conversation" or "dossier"; else BadRequest."""
    from bot.dossiers.codes import is_code, normalise_code

    given = [(kind, value) for kind, value in (("conversation", conversation_id), ("dossier", dossier_code),
                                                ("channel_user", channel_user)) if value not in (None, "")]
    if not given:
        raise BadRequest(BAD_NONE)
    if len(given) > 1:
        raise BadRequest(BAD_BOTH)
    kind, value = given[0]
    if kind == "channel_user":
        return "conversation", _channel_user(value)
    if not isinstance(value, str):
        raise BadRequest(BAD_CONVERSATION if kind == "conversation" else BAD_DOSSIER)
    if kind == "conversation":
        value = value.strip()
        if not _CONVERSATION_ID.match(value):
            raise BadRequest(BAD_CONVERSATION)
        return kind, value
    code = normalise_code(value) if len(value.strip()) <= 32 else ""
    if not is_code(code):
        raise BadRequest(BAD_DOSSIER)
    return kind, code


def _app(config: Settings) -> Optional[Database]:
    """The app's database (``None``: a SQLite file not created yet, so nothing is kept)."""
    return readonly_db.app_database(config.app_database)


def _marks(values: Iterable) -> str:
    return ", ".join("?" for _ in values)


def _app_has(db: Database, conversation_id: str) -> bool:
    with db.read() as tx:
        for table in APP_TABLES:
            if table != "dossier_events" and tx.one(
                    f"SELECT 1 AS found FROM {table} WHERE conversation_id = ? LIMIT 1", (conversation_id,)):
                return True
    return False


def _tracker_senders(config: Settings, ids: list[str]) -> set[str]:
    import sqlalchemy as sa

    if not ids:
        return set()
    with readonly_db.open_tracker(config.tracker_url) as engine:
        if engine is None:
            return set()
        query = sa.text("SELECT DISTINCT sender_id FROM events WHERE sender_id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True))
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(query, {"ids": ids})}


def find_citizen(config: Settings, *, conversation_id: Optional[str] = None, dossier_code: Optional[str] = None,
                 channel_user: Union[str, tuple, None] = None) -> set[str]:
    """The conversation ids the request leads to (see the module's docstring), holding at least one
    row in the app's database or Rasa's tracker store; an empty set when nothing is kept.

    Exactly one of the three must be given (``BadRequest`` otherwise, or when it is malformed)."""
    kind, value = _request(conversation_id, dossier_code, channel_user)
    db = _app(config)
    if kind == "dossier":
        if db is None:
            return set()
        return {row["conversation_id"] for row in db.all("SELECT conversation_id FROM dossiers WHERE code = ?",
                                                         (value,))}
    if db is not None and _app_has(db, value):
        return {value}
    return _tracker_senders(config, [value])


def _audit(config: Settings, by: Optional[Accessor], what: str, target: str) -> None:
    if by is None:
        return
    access_log = AccessLog(config.app_database)
    try:
        access_log.record_for(by, what, target)
    finally:
        access_log.close()


# --- exporting ------------------------------------------------------------------------------------

def _decoded(row, json_columns: Iterable[str] = ()) -> dict:
    data = dict(row)
    for column in json_columns:
        if isinstance(data.get(column), str):
            with contextlib.suppress(ValueError):
                data[column] = json.loads(data[column])
    return data


JSON_COLUMNS = {"messages": ("buttons",), "dossiers": ("answers",), "form_drafts": ("answers",),
                "handover_events": ("detail",), "outbox": ("reply",)}


def _codes(tx: Transaction, ids: list[str]) -> list[str]:
    return [row["code"] for row in tx.all(
        f"SELECT code FROM dossiers WHERE conversation_id IN ({_marks(ids)}) ORDER BY code", ids)]


def _select(tx: Transaction, table: str, ids: list[str], codes: list[str]) -> list:
    if table == "dossier_events":
        if not codes:
            return []
        return tx.all(f"SELECT * FROM dossier_events WHERE dossier_code IN ({_marks(codes)}) ORDER BY id", codes)
    order = "code" if table == "dossiers" else ("conversation_id" if table in ("form_drafts", "callback_drafts")
                                                 else "id")
    return tx.all(f"SELECT * FROM {table} WHERE conversation_id IN ({_marks(ids)}) ORDER BY {order}", ids)


def _rate_limits(config: Settings, ids: list[str]) -> list[tuple[RateLimiter, list[str]]]:
    """Each limiter that counts these conversations (one per key secret), with their keys. ``[]`` when
    nothing was ever counted on this install (no limits file, no Redis)."""
    if not config.redis_url and not Path(config.limits_db).exists():
        return []
    return [(ratelimit.for_config(config, key_secret=config.derived_secret(purpose)),
             [template.format(id=conversation_id) for conversation_id in ids])
            for template, purpose in RATE_LIMIT_KEYS]


def _tracker_rows(config: Settings, ids: list[str]) -> list[dict]:
    import sqlalchemy as sa

    with readonly_db.open_tracker(config.tracker_url) as engine:
        if engine is None:
            return []
        query = sa.text("SELECT id, sender_id, type_name, timestamp, intent_name, action_name, data FROM events"
                        " WHERE sender_id IN :ids ORDER BY id").bindparams(sa.bindparam("ids", expanding=True))
        with engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query, {"ids": ids})]
    for row in rows:
        with contextlib.suppress(TypeError, ValueError):
            row["data"] = json.loads(row["data"])
    return rows


def export_citizen(config: Settings, *, conversation_id: Optional[str] = None, dossier_code: Optional[str] = None,
                   channel_user: Union[str, tuple, None] = None, by: Optional[Accessor] = None) -> dict:
    """Every row about the citizen the request names, from every store, as JSON-able data:
    ``{"exported_at", "request", "conversations", "stores": {store: [rows]}, "access_log"}``.

    ``conversations`` is empty when nothing is kept. ``by``: who exports, recorded in the audit
    log (``privacy_export``; the id as requested, never the content)."""
    kind, value = _request(conversation_id, dossier_code, channel_user)
    ids = sorted(find_citizen(config, **{("dossier_code" if kind == "dossier" else "conversation_id"): value}))
    stores: dict[str, list] = {name: [] for name in STORE_LABELS}
    access: list[dict] = []
    if ids:
        db = _app(config)
        if db is not None:
            with db.read() as tx:   # one state of the app's database for every table
                codes = _codes(tx, ids)
                for table in APP_TABLES:
                    stores[table] = [_decoded(r, JSON_COLUMNS.get(table, ())) for r in _select(tx, table, ids, codes)]
                targets = ids + codes
                access = [dict(r) for r in tx.all(
                    f"SELECT at, who, role, what, target, route FROM access_log WHERE target IN ({_marks(targets)})"
                    " ORDER BY id", targets)]
        hits = [(key.split(":")[0], at) for limits, keys in _rate_limits(config, ids) for key, at in limits.hits(keys)]
        stores["rate_limits"] = [{"kind": kind, "at": dt.datetime.fromtimestamp(at, dt.timezone.utc)
                                  .isoformat(timespec="seconds")} for kind, at in sorted(hits, key=lambda h: h[1])]
        stores["tracker_events"] = _tracker_rows(config, ids)
    _audit(config, by, "privacy_export", value)
    log.info("privacy export: %d conversation(s), %d row(s), by %s", len(ids),
             sum(len(rows) for rows in stores.values()), by.who if by else "-")
    return {
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "request": {kind: value},
        "conversations": ids,
        "stores": stores,
        "access_log": access,
    }


# --- deleting -------------------------------------------------------------------------------------

def _delete_tracker(config: Settings, ids: list[str]) -> int:
    return readonly_db.delete_tracker_events(config.tracker_url, "sender_id IN :ids", {"ids": ids})


def _close_open_handovers(config: Settings, ids: list[str], actor: str) -> int:
    """End the conversations' waiting or claimed handovers through the handover store's own API."""
    from bot.handover.store import HandoverStore, NotFound

    db = _app(config)
    if db is None:
        return 0
    open_ids = [row["id"] for row in db.all(
        f"SELECT id FROM handovers WHERE state != 'closed' AND conversation_id IN ({_marks(ids)}) ORDER BY id", ids)]
    if not open_ids:
        return 0
    store = HandoverStore(db)
    closed = 0
    try:
        for handover_id in open_ids:
            with contextlib.suppress(NotFound):   # ended meanwhile by its volunteer
                store.end(handover_id, "closed", actor, CLOSE_REASON)
                closed += 1
    finally:
        store.close()
    return closed


def _delete_app(config: Settings, ids: list[str], actor: str) -> dict[str, int]:
    """One write transaction over every table of the app's database (all deleted or none), then
    ``vacuum_deleted`` (SQLite: WAL truncated; ``secure_delete`` is on for every connection)."""
    counts = {table: 0 for table in APP_TABLES}
    db = _app(config)
    if db is None:
        return counts
    with db.write() as tx:
        codes = _codes(tx, ids)
        for table in APP_TABLES:
            if table == "dossier_events":
                if codes:
                    counts[table] = tx.execute(
                        f"DELETE FROM dossier_events WHERE dossier_code IN ({_marks(codes)})", codes).rowcount
                continue
            counts[table] = tx.execute(f"DELETE FROM {table} WHERE conversation_id IN ({_marks(ids)})", ids).rowcount
        if counts["handovers"]:
            # No id, no content: open consoles see a change and refresh their lists.
            tx.execute("INSERT INTO handover_events (handover_id, conversation_id, kind, actor, at, detail)"
                       " VALUES (0, '', ?, ?, ?, '{}')",
                       (ERASED_KIND, actor[:200], dt.datetime.now(dt.timezone.utc).isoformat(
                           timespec="microseconds")))
    db.vacuum_deleted()
    return counts


def _delete_rate_limits(config: Settings, ids: list[str]) -> int:
    return sum(limits.forget(keys) for limits, keys in _rate_limits(config, ids))


def delete_citizen(config: Settings, *, conversation_id: Optional[str] = None, dossier_code: Optional[str] = None,
                   channel_user: Union[str, tuple, None] = None, by: Optional[Accessor] = None) -> dict:
    """Delete everything about the citizen the request names, in every store (see the module's
    docstring): ``{"request", "conversations", "closed_handovers", "counts": {store: rows deleted}}``.

    ``conversations`` is empty (and nothing is deleted) when nothing is kept. ``by``: who deletes,
    recorded in the audit log (``privacy_delete``) and as the actor who closed open handovers."""
    kind, value = _request(conversation_id, dossier_code, channel_user)
    ids = sorted(find_citizen(config, **{("dossier_code" if kind == "dossier" else "conversation_id"): value}))
    counts = {name: 0 for name in STORE_LABELS}
    closed = 0
    actor = by.who if by is not None else "privacy"
    if ids:
        counts["tracker_events"] = _delete_tracker(config, ids)
        closed = _close_open_handovers(config, ids, actor)
        counts.update(_delete_app(config, ids, actor))
        counts["rate_limits"] = _delete_rate_limits(config, ids)
    _audit(config, by, "privacy_delete", value)
    log.info("privacy deletion: %d conversation(s), %d row(s), %d open handover(s) closed, by %s", len(ids),
             sum(counts.values()), closed, actor)
    return {"request": {kind: value}, "conversations": ids, "closed_handovers": closed, "counts": counts}


def counts_text(result: dict) -> str:
    """The deletion's counts in Vietnamese, one store a line (for the CLI)."""
    lines = [f"Đã xóa dữ liệu của {len(result['conversations'])} cuộc trò chuyện:"]
    for store, label in STORE_LABELS.items():
        lines.append(f"  {label}: {result['counts'].get(store, 0)}")
    if result.get("closed_handovers"):
        lines.append(f"Đã kết thúc {result['closed_handovers']} lượt hỗ trợ đang mở trước khi xóa.")
    return "\n".join(lines)


# --- command line (``python -m bot privacy …``) ------------------------------------------------------

REFUSE_WITHOUT_YES = ("Xóa dữ liệu là vĩnh viễn và không khôi phục được. Tìm thấy {n} cuộc trò chuyện: {ids}. "
                      "Chạy lại với --yes để xác nhận xóa.")
FILE_EXISTS = "Tệp {path} đã có: chọn tên khác (không ghi đè)."


def _cli_accessor(command: str) -> Accessor:
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Accessor(who, "cli", f"python -m bot privacy {command}")


def _cli_request(args) -> dict:
    return {"conversation_id": args.conversation, "dossier_code": args.dossier}


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to a new file with mode 0600 (never an existing one)."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _cmd_export(config: Settings, args) -> None:
    import sys

    data = export_citizen(config, **_cli_request(args), by=_cli_accessor("export"))
    if not data["conversations"]:
        sys.exit("Không tìm thấy dữ liệu nào của người dân này.")
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if not args.out:
        print(text)
        return
    try:
        _write_private(args.out, text + "\n")
    except FileExistsError:
        sys.exit(FILE_EXISTS.format(path=args.out))
    rows = sum(len(rows) for rows in data["stores"].values())
    print(f"Đã xuất {rows} dòng dữ liệu của {len(data['conversations'])} cuộc trò chuyện vào {args.out} "
          "(chỉ chủ tệp đọc được).")


def _cmd_delete(config: Settings, args) -> None:
    import sys

    if not args.yes:
        ids = sorted(find_citizen(config, **_cli_request(args)))
        if not ids:
            sys.exit("Không tìm thấy dữ liệu nào của người dân này.")
        sys.exit(REFUSE_WITHOUT_YES.format(n=len(ids), ids=", ".join(ids)))
    result = delete_citizen(config, **_cli_request(args), by=_cli_accessor("delete"))
    if not result["conversations"]:
        sys.exit("Không tìm thấy dữ liệu nào của người dân này.")
    print(counts_text(result))


def _cmd_privacy(args) -> None:
    import sys

    from bot import settings

    try:
        args.operation(settings.load(), args)
    except BadRequest as bad:
        sys.exit(str(bad))


def add_privacy_commands(commands) -> None:
    """``privacy export (--conversation ID | --dossier CODE) [--out FILE]`` and
    ``privacy delete (--conversation ID | --dossier CODE) --yes``."""
    privacy = commands.add_parser("privacy", help="one citizen's data on request: export or delete it everywhere")
    privacy.set_defaults(func=_cmd_privacy)
    operations = privacy.add_subparsers(dest="operation_name", required=True)
    for name, help_text, operation in (
            ("export", "every row about the citizen, as JSON (dossier answers in clear)", _cmd_export),
            ("delete", "delete the citizen's data in every store (needs --yes)", _cmd_delete)):
        parser = operations.add_parser(name, help=help_text)
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--conversation", help="conversation id: web-…, telegram:<user id>, zalo:<user id>")
        which.add_argument("--dossier", help="dossier code, e.g. HS-2026-K7Q4MP")
        if name == "export":
            parser.add_argument("--out", help="write to this new file (mode 0600) instead of standard output")
        else:
            parser.add_argument("--yes", action="store_true", help="confirm: the deletion cannot be undone")
        parser.set_defaults(operation=operation)

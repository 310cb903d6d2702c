"""The volunteer console: ``GET /console`` (the page) and its JSON API, thin routes over ``bot.handover.desk``.

Every API route needs a login (``bot.auth``: cookie ``tthc_session``; 401 without) with role
``volunteer``, ``supervisor`` or ``admin`` (403 otherwise), and every POST / DELETE the header
``X-CSRF-Token`` (403 without) and a JSON body (415 otherwise). Errors are ``{"error": "<tiếng Việt>"}``.

- ``GET /console/api/conversations?tab=waiting|mine|callback|closed`` → ``{"conversations": [{"id",
  "channel", "waiting_since", "procedure", "procedure_name", "last_message", "last_message_at",
  "assigned_to", "assigned_name", "state", "team", "position", "reason", "callback"}]}`` (waiting:
  oldest first; closed: newest first; callback: open call-back requests, ``callback`` = ``{"id",
  "phone", "question", "created_at", "state"}``).
- ``GET /console/api/conversations/{id}`` → the same fields and ``messages`` (citizen, bot and
  volunteers: ``sender`` ``citizen|bot|volunteer``), ``notes``, ``intents`` (latest first, from
  Rasa's tracker), ``dossier`` (code, state, checklist), ``draft``, ``rating``, ``can_claim``,
  ``can_reply``, ``can_assign``. 404 when the conversation never reached the console, 403 when it
  belongs to another team. Every answer with the messages (this route, and claim / assign /
  release / close below) is recorded in the access log (``bot.access_log``: who, role, the id).
- ``POST …/{id}/claim`` → 200 the conversation, or 409 ``{"error", "assigned_to"}`` when someone
  else has it (a claim is one conditional UPDATE: exactly one of two simultaneous claims wins).
- ``POST …/{id}/assign`` ``{"username"}`` (supervisor: within the team; admin: anyone).
- ``POST …/{id}/messages`` ``{"text"}`` → 201 ``{"message"}``: sent on the citizen's channel.
- ``POST …/{id}/notes`` ``{"text"}`` → 201 ``{"note"}``: internal, never sent.
- ``POST …/{id}/release`` ("Trả lại cho bot") and ``POST …/{id}/close`` ``{"reason"}`` ("Kết thúc").
- ``POST …/{id}/flag`` ``{"message_id"}`` ("Báo câu trả lời sai") → 201: the citizen's question that
  bot message answered goes to the staff's NLU inbox (``bot.learning``); 404 if it is not a bot message.
- ``GET /console/api/events``: server-sent events, one ``change`` event (``data`` ``{"conversation_id",
  "kind", "message"?}``) per new waiting chat, claim, message, note, call-back …, for the chats the
  volunteer may see; the open stream is also the console's presence heartbeat, and it ends when
  the session does.
- ``GET|POST /console/api/presence`` (``{"status": "online|away|offline"}``), ``GET|POST
  /console/api/canned`` and ``DELETE /console/api/canned/{code}`` (editing: supervisor / admin),
  ``POST /console/api/callbacks/{callback_id}/done``, ``GET /console/api/figures?days=7[&format=csv]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import time
from pathlib import Path

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot import access_log, auth, clock, learning
from bot.dossiers import checklist
from bot.handover.desk import ROLES_ASSIGN, Actor, Conflict, Desk, Forbidden, NotFound
from bot.handover.figures import figures, figures_csv
from bot.httpjson import BadJson, is_json, json_body

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
CONSOLE_ROLES = frozenset({"volunteer", "supervisor", "admin"})
NO_STORE = {"Cache-Control": "no-store"}
TABS = ("waiting", "mine", "callback", "closed")
CONSOLE_KEY = "*console*"          # the Wakeups key every change of the console wakes
EVENTS_POLL_SECONDS = 1.0
EVENTS_PING_SECONDS = 15.0
SEEN_EVERY = 20.0                  # presence heartbeat of an open stream
SESSION_CHECK_EVERY = 15.0         # an open stream ends within this after logout
MAX_TEXT = 2000
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$", re.ASCII)
EVENT_KINDS = {"requested": "waiting", "claimed": "claimed", "assigned": "assigned", "requeued": "requeued",
               "released": "released", "closed": "closed", "note": "note", "rated": "rated",
               "callback_requested": "callback", "callback_done": "callback",
               "erased": "erased"}   # bot.privacy deleted a conversation (no id): consoles refresh their lists

NOT_FOUND = "Không tìm thấy cuộc trò chuyện này trong bàn hỗ trợ."
FORBIDDEN = "Cuộc trò chuyện này thuộc nhóm khác, bạn không xem được."
BAD_TAB = "Tham số tab phải là waiting, mine, callback hoặc closed."
BAD_BODY = "Nội dung yêu cầu không hợp lệ (cần JSON, {fields})."
NOT_JSON = "Yêu cầu phải gửi dạng JSON (tiêu đề “Content-Type: application/json”)."
BAD_STATUS = "Trạng thái phải là online, away hoặc offline."
BAD_CODE = "Mã mẫu câu chỉ gồm chữ thường không dấu, số, gạch ngang (tối đa 32 ký tự)."
CANNED_NOT_FOUND = "Không có mẫu câu này."
CALLBACK_NOT_FOUND = "Không tìm thấy yêu cầu gọi lại này."
BAD_DAYS = "Tham số days phải là số từ 1 đến 90."
BAD_FLAG = "Nội dung yêu cầu không hợp lệ (cần JSON, {\"message_id\"}: số của tin nhắn bot trả lời sai)."
FLAG_NOT_FOUND = "Không tìm thấy tin nhắn này của bot trong cuộc trò chuyện."

_PAGE = None


def _error(message: str, status: int, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=NO_STORE)


def _json(data, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=NO_STORE)


def _desk(request: Request) -> Desk:
    return request.app.state.desk


async def _actor(request: Request, roles=CONSOLE_ROLES) -> Actor:
    session = await auth.require(request, roles=roles)
    actor = Actor(session.username, session.role, session.team, session.account.display_name)
    await run_in_threadpool(_desk(request).seen, actor)
    return actor


async def _body(request: Request, fields: dict[str, bool]) -> dict | Response:
    """The JSON body with string ``fields`` (name → required), else the 400/415 answer."""
    described = ", ".join(f'"{name}"' + ("" if required else " (không bắt buộc)") for name, required in fields.items())
    if not is_json(request):
        return _error(NOT_JSON, 415)
    try:
        body = await json_body(request)
    except BadJson:
        return _error(BAD_BODY.format(fields=described or "{}"), 400)
    if not isinstance(body, dict):
        return _error(BAD_BODY.format(fields=described or "{}"), 400)
    for name, required in fields.items():
        value = body.get(name)
        if value is None and not required:
            continue
        if not isinstance(value, str) or (required and not value.strip()) or len(value) > MAX_TEXT:
            return _error(BAD_BODY.format(fields=described), 400)
    return body


def _failure(error: Exception) -> JSONResponse:
    if isinstance(error, Forbidden):
        return _error(FORBIDDEN, 403)
    if isinstance(error, Conflict):
        return _error(str(error), 409, assigned_to=error.owner)
    return _error(NOT_FOUND, 404)


# --- views -----------------------------------------------------------------------------------------

def _names(desk: Desk) -> dict[str, str]:
    return {a.username: (a.display_name or a.username) for a in desk.accounts.list()}


def _item(desk: Desk, handover, names: dict[str, str], position: int | None = None) -> dict:
    last = desk.store.last_message(handover.conversation_id) or {}
    return {
        "id": handover.conversation_id,
        "channel": handover.channel,
        "waiting_since": handover.requested_at,
        "procedure": handover.procedure,
        "procedure_name": desk.procedure_name(handover.procedure),
        "last_message": last.get("text"),
        "last_message_at": last.get("created_at"),
        "assigned_to": handover.assigned_to,
        "assigned_name": names.get(handover.assigned_to) if handover.assigned_to else None,
        "state": handover.state,
        "team": handover.team,
        "position": position,
        "reason": handover.reason,
        "outcome": handover.outcome,
        "ended_at": handover.ended_at,
        "callback": None,
    }


def _listing(desk: Desk, actor: Actor, tab: str) -> list[dict]:
    names = _names(desk)
    all_teams = actor.role == "admin"
    if tab == "waiting":
        return [_item(desk, h, names, i) for i, h in enumerate(desk.store.listing("waiting"), 1)]
    if tab == "mine":
        return [_item(desk, h, names) for h in desk.store.listing("claimed", assigned_to=actor.username,
                                                                  all_teams=True)]
    if tab == "closed":
        return [_item(desk, h, names) for h in desk.store.listing("closed", team=actor.team, all_teams=all_teams,
                                                                  limit=50)]
    items = []
    for callback in desk.store.callbacks("open"):
        last = desk.store.last_message(callback.conversation_id) or {}
        items.append({"id": callback.conversation_id, "channel": callback.channel,
                      "waiting_since": callback.created_at, "procedure": callback.procedure,
                      "procedure_name": desk.procedure_name(callback.procedure), "last_message": callback.question,
                      "last_message_at": last.get("created_at"), "assigned_to": None, "assigned_name": None,
                      "state": "callback", "team": None, "position": None, "reason": "callback",
                      "callback": callback.public(with_phone=True)})
    return items


def _sender(message: dict) -> str:
    if message["direction"] == "in":
        return "citizen"
    return "volunteer" if message.get("author") else "bot"


def _dossier_view(desk: Desk, conversation_id: str) -> tuple[dict | None, dict | None]:
    store = desk.dossiers
    dossier_view = draft_view = None
    dossiers = store.list_for_conversation(conversation_id)
    if dossiers:
        dossier = max(dossiers, key=lambda d: d.updated_at)
        procedure = desk.catalogue.get(dossier.procedure_id)
        items = []
        if procedure is not None:
            # answers that do not (or no longer, after a catalogue edit) decide the form: no
            # checklist, as for the PDF (bot.staff.dossier_pdf)
            with contextlib.suppress(KeyError, ValueError, LookupError):
                items = checklist(procedure, dossier.answers)
        dossier_view = {"code": dossier.code, "state": dossier.state, "state_label": dossier.state_label,
                        "procedure": dossier.procedure_id, "procedure_name": desk.procedure_name(dossier.procedure_id),
                        "checklist": [f"{i.name} ({i.quantity()})" for i in items]}
    draft = store.load_draft(conversation_id)
    if draft is not None:
        draft_view = {"procedure": draft.procedure_id, "procedure_name": desk.procedure_name(draft.procedure_id),
                      "answered": len([k for k in draft.answers if not k.startswith("_")])}
    return dossier_view, draft_view


async def _tracker_view(desk: Desk, conversation_id: str) -> tuple[str | None, list[dict]]:
    """The procedure slot and the latest intents (newest first) from Rasa's tracker."""
    try:
        tracker = await desk.rasa.tracker(conversation_id)
    except Exception as error:  # noqa: BLE001 — the console still shows the transcript
        log.warning("tracker not read for the console: %s", type(error).__name__)
        return None, []
    slots = tracker.get("slots") or {}
    procedure = slots.get("procedure") if isinstance(slots.get("procedure"), str) else None
    intents = []
    for event in reversed(tracker.get("events") or []):
        if isinstance(event, dict) and event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            if intent.get("name"):
                intents.append({"name": intent["name"], "confidence": round(float(intent.get("confidence") or 0), 3)})
        if len(intents) >= 5:
            break
    return procedure, intents


async def _detail(desk: Desk, actor: Actor, conversation_id: str) -> dict:
    handover = await run_in_threadpool(desk._handover_for, actor, conversation_id)
    names = await run_in_threadpool(_names, desk)
    position = await run_in_threadpool(desk.store.position, conversation_id) if handover.state == "waiting" else None
    view = await run_in_threadpool(_item, desk, handover, names, position)
    history = (await run_in_threadpool(desk.messages.history, conversation_id))[-300:]
    view["messages"] = [{"id": m["id"], "direction": m["direction"], "sender": _sender(m), "author": m.get("author"),
                         "author_name": names.get(m["author"], m["author"]) if m.get("author") else None,
                         "text": m["text"], "created_at": m["created_at"]} for m in history]
    view["notes"] = [{**n, "author_name": names.get(n["author"], n["author"])}
                     for n in await run_in_threadpool(desk.store.notes, conversation_id)]
    procedure, view["intents"] = await _tracker_view(desk, conversation_id)
    if procedure and not view["procedure"]:
        view["procedure"], view["procedure_name"] = procedure, desk.procedure_name(procedure)
    view["dossier"], view["draft"] = await run_in_threadpool(_dossier_view, desk, conversation_id)
    view["rating"] = {"score": handover.rating, "comment": handover.rating_comment} if handover.rating else None
    view["close_reason"] = handover.close_reason
    view["can_claim"] = handover.state == "waiting"
    view["can_reply"] = handover.state == "claimed" and handover.assigned_to == actor.username
    view["can_assign"] = handover.state != "closed" and actor.role in ROLES_ASSIGN
    return view


# --- routes ----------------------------------------------------------------------------------------

async def page(request: Request) -> Response:
    global _PAGE
    if _PAGE is None:
        _PAGE = (STATIC / "console.html").read_text(encoding="utf-8")
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})


async def conversations(request: Request) -> Response:
    actor = await _actor(request)
    tab = request.query_params.get("tab", "waiting")
    if tab not in TABS:
        return _error(BAD_TAB, 400)
    return _json({"conversations": await run_in_threadpool(_listing, _desk(request), actor, tab)})


async def _audit(request: Request, actor: Actor, conversation_id: str) -> None:
    """The conversation's messages were shown to ``actor``: one entry in the access log."""
    await access_log.record(request, access_log.Accessor(actor.username, actor.role,
                                                         access_log.route_template(request)),
                            "conversation", conversation_id)


async def conversation(request: Request) -> Response:
    actor = await _actor(request)
    conversation_id = request.path_params["conversation_id"]
    try:
        view = await _detail(_desk(request), actor, conversation_id)
    except (NotFound, Forbidden, Conflict) as error:
        return _failure(error)
    await _audit(request, actor, conversation_id)
    return _json(view)


async def _change(request: Request, fields: dict[str, bool], act) -> Response:
    """A state change of one chat (claim, assign, release, close): ``act(desk, actor, id, body)``,
    then the conversation as it now is."""
    actor = await _actor(request)
    if isinstance(body := await _body(request, fields), Response):
        return body
    desk, conversation_id = _desk(request), request.path_params["conversation_id"]
    try:
        await act(desk, actor, conversation_id, body)
        view = await _detail(desk, actor, conversation_id)
    except (NotFound, Forbidden, Conflict) as error:
        return _failure(error)
    await _audit(request, actor, conversation_id)
    return _json(view)


async def claim(request: Request) -> Response:
    return await _change(request, {}, lambda desk, actor, cid, body: desk.claim(actor, cid))


async def assign(request: Request) -> Response:
    return await _change(request, {"username": True},
                         lambda desk, actor, cid, body: desk.assign(actor, cid, body["username"].strip()))


async def send_message(request: Request) -> Response:
    actor = await _actor(request)
    if isinstance(body := await _body(request, {"text": True}), Response):
        return body
    try:
        message = await _desk(request).send(actor, request.path_params["conversation_id"], body["text"])
    except (NotFound, Forbidden, Conflict) as error:
        return _failure(error)
    return _json({"message": message}, 201)


async def add_note(request: Request) -> Response:
    actor = await _actor(request)
    if isinstance(body := await _body(request, {"text": True}), Response):
        return body
    try:
        note = await run_in_threadpool(_desk(request).note, actor, request.path_params["conversation_id"],
                                       body["text"])
    except (NotFound, Forbidden, Conflict) as error:
        return _failure(error)
    return _json({"note": note}, 201)


async def release(request: Request) -> Response:
    return await _change(request, {}, lambda desk, actor, cid, body: desk.release(actor, cid))


async def close(request: Request) -> Response:
    return await _change(request, {"reason": False},
                         lambda desk, actor, cid, body: desk.close(actor, cid, body.get("reason")))


async def flag(request: Request) -> Response:
    """A volunteer marks a bot answer as wrong: the question it answered lands in the NLU inbox."""
    actor = await _actor(request)
    if isinstance(body := await _body(request, {}), Response):
        return body
    message_id = body.get("message_id")
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        return _error(BAD_FLAG, 400)
    conversation_id = request.path_params["conversation_id"]
    try:
        await run_in_threadpool(_desk(request)._handover_for, actor, conversation_id)
    except (NotFound, Forbidden, Conflict) as error:
        return _failure(error)
    store = learning.store_for(request.app)
    if not await run_in_threadpool(store.flag, conversation_id, message_id, actor.username):
        return _error(FLAG_NOT_FOUND, 404)
    return _json({"flagged": message_id}, 201)


async def presence(request: Request) -> Response:
    actor = await _actor(request)
    desk = _desk(request)
    if request.method == "POST":
        if isinstance(body := await _body(request, {"status": True}), Response):
            return body
        status = body["status"].strip()
        if status not in ("online", "away", "offline"):
            return _error(BAD_STATUS, 400)
        await run_in_threadpool(desk.set_presence, actor, status)
        return _json({"status": status})

    def volunteers() -> list[dict]:
        online = set(desk.online_volunteers())
        states = desk.store.presence()
        rows = []
        for account in desk.accounts.list():
            if account.role not in CONSOLE_ROLES or account.disabled:
                continue
            if actor.role != "admin" and account.team != actor.team:
                continue
            status = states.get(account.username, {}).get("status", "offline")
            if status == "online" and account.username not in online:
                status = "offline"
            rows.append({"username": account.username, "display_name": account.display_name, "team": account.team,
                         "role": account.role, "status": status})
        return rows

    return _json({"volunteers": await run_in_threadpool(volunteers)})


async def canned(request: Request) -> Response:
    if request.method == "GET":
        await _actor(request)
        items = await run_in_threadpool(_desk(request).store.canned)
        return _json({"canned": [{"code": c["code"], "text": c["text"]} for c in items]})
    actor = await _actor(request, roles=ROLES_ASSIGN)
    if isinstance(body := await _body(request, {"code": True, "text": True}), Response):
        return body
    code = body["code"].strip().lower()
    if not _CODE.match(code):
        return _error(BAD_CODE, 400)
    saved = await run_in_threadpool(_desk(request).store.save_canned, code, body["text"].strip(), actor.username)
    return _json({"canned": {"code": saved["code"], "text": saved["text"]}}, 201)


async def delete_canned(request: Request) -> Response:
    await _actor(request, roles=ROLES_ASSIGN)
    if not await run_in_threadpool(_desk(request).store.delete_canned, request.path_params["code"]):
        return _error(CANNED_NOT_FOUND, 404)
    return _json({"ok": True})


async def callback_done(request: Request) -> Response:
    actor = await _actor(request)
    if isinstance(body := await _body(request, {}), Response):
        return body
    raw = request.path_params["callback_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        return _error(CALLBACK_NOT_FOUND, 404)
    try:
        done = await run_in_threadpool(_desk(request).callback_done, actor, int(raw))
    except NotFound:
        return _error(CALLBACK_NOT_FOUND, 404)
    return _json({"callback": done.public(with_phone=False)})


async def figures_route(request: Request) -> Response:
    actor = await _actor(request)
    raw = request.query_params.get("days", "7")
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 90):
        return _error(BAD_DAYS, 400)
    days = int(raw)
    desk = _desk(request)

    def compute() -> dict:
        since = clock.utcnow() - dt.timedelta(days=days + 1)
        team = None if actor.role == "admin" else actor.team
        return figures(desk.store.events(since=since), days=days, today=clock.today(), team=team,
                       open_callbacks=desk.store.open_callbacks())

    result = await run_in_threadpool(compute)
    if request.query_params.get("format") == "csv":
        return Response(figures_csv(result), media_type="text/csv; charset=utf-8",
                        headers={**NO_STORE, "Content-Disposition": 'attachment; filename="so-lieu-ho-tro.csv"'})
    return _json(result)


def _visible_event(desk: Desk, actor: Actor, event: dict) -> bool:
    if event["kind"].startswith("callback") or event["kind"] == "erased" or actor.role == "admin":
        return True
    handover = desk.store.get(event["handover_id"]) if event["handover_id"] else None
    if handover is None:
        return False
    return event["kind"] in ("requested", "requeued") or desk.visible(actor, handover) \
        or event.get("team") == actor.team


def _changes(desk: Desk, actor: Actor, after_event: int, after_message: int) -> tuple[list[dict], int, int]:
    changes = []
    for event in desk.store.events(after_id=after_event, limit=200):
        after_event = event["id"]
        kind = EVENT_KINDS.get(event["kind"])
        if kind and _visible_event(desk, actor, event):
            changes.append({"conversation_id": event["conversation_id"], "kind": kind})
    for message in desk.store.messages_after(after_message):
        after_message = message["id"]
        handover = desk.store.open_for(message["conversation_id"])
        if handover is None or not desk.visible(actor, handover):
            continue
        changes.append({"conversation_id": message["conversation_id"], "kind": "message",
                        "message": {"id": message["id"], "direction": message["direction"],
                                    "sender": _sender(message), "author": message["author"],
                                    "text": message["text"], "created_at": message["created_at"]}})
    return changes, after_event, after_message


def _cursor(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    match = re.fullmatch(r"([0-9]{1,18})\.([0-9]{1,18})", value.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


async def events(request: Request) -> Response:
    actor = await _actor(request)
    desk = _desk(request)
    token = request.cookies.get(auth.COOKIE)
    accounts = request.app.state.auth.accounts
    wakeups = request.app.state.wakeups
    cursor = _cursor(request.headers.get("last-event-id"))
    if cursor is None:
        cursor = (await run_in_threadpool(desk.store.last_event_id), await run_in_threadpool(desk.store.last_message_id))

    async def stream():
        after_event, after_message = cursor
        seen_at = checked_at = time.monotonic()
        with wakeups.listen(CONSOLE_KEY) as woken:
            while True:
                woken.clear()
                changes, after_event, after_message = await run_in_threadpool(
                    _changes, desk, actor, after_event, after_message)
                for change in changes:
                    yield ServerSentEvent(data=json.dumps(change, ensure_ascii=False), event="change",
                                          id=f"{after_event}.{after_message}")
                now = time.monotonic()
                if now - checked_at >= SESSION_CHECK_EVERY:
                    checked_at = now
                    if await run_in_threadpool(accounts.session, token) is None:
                        return
                if now - seen_at >= SEEN_EVERY:
                    seen_at = now
                    await run_in_threadpool(desk.seen, actor)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(woken.wait(), EVENTS_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=EVENTS_PING_SECONDS, headers=NO_STORE)


def routes() -> list[Route]:
    base = "/console/api/conversations/{conversation_id}"
    return [
        Route("/console", page),
        Route("/console/api/conversations", conversations),
        Route(base, conversation),
        Route(base + "/claim", claim, methods=["POST"]),
        Route(base + "/assign", assign, methods=["POST"]),
        Route(base + "/messages", send_message, methods=["POST"]),
        Route(base + "/notes", add_note, methods=["POST"]),
        Route(base + "/release", release, methods=["POST"]),
        Route(base + "/close", close, methods=["POST"]),
        Route(base + "/flag", flag, methods=["POST"]),
        Route("/console/api/events", events),
        Route("/console/api/presence", presence, methods=["GET", "POST"]),
        Route("/console/api/canned", canned, methods=["GET", "POST"]),
        Route("/console/api/canned/{code}", delete_canned, methods=["DELETE"]),
        Route("/console/api/callbacks/{callback_id}/done", callback_done, methods=["POST"]),
        Route("/console/api/figures", figures_route),
    ]

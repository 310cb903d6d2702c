"""Draft dossiers in chat: fill the procedure's form one question at a time, confirm,
create the dossier (code, checklist, fee, expected date, PDF link) and check its status.

While a draft is open (slot ``dossier_active``), every message goes to
``action_dossier_step`` (see nlu_data/rules/dossiers.yml), which handles, in order:
cancel ("hủy", "thôi"), edit ("sửa ngày sinh"), the confirmation, a question in the
middle ("lệ phí bao nhiêu?" is answered and the form resumes), and the answer itself.
The draft lives in the app's SQLite database after every answer, so a restart loses
nothing already answered.

Hardening: every text is read through ``bot.textinput.normalise_input`` (fullwidth and
Arabic-Indic digits become ASCII) before validation, masking or comparison; slots, entities,
intents and metadata are type-checked (a forged tracker can put a dict where a str is
expected); any exception inside ``run`` becomes a polite Vietnamese answer, logged by type
and place only (never the message). A form answer carries the app's ``message_id`` (user
event metadata); the draft keeps the id of the last message applied, and a message delivered
again (a retry) is not applied a second time: the current question is asked again.
Checking a status with the last 4 phone digits is limited by the persisted ``RateLimiter``
(per code, per conversation and over all codes); a refused guess is never compared.

```mermaid
stateDiagram-v2
    [*] --> asking: start_dossier
    asking --> asking: valid answer / error + ask again / question answered
    asking --> confirming: last answer
    confirming --> asking: "sửa …"
    confirming --> [*]: xác nhận → dossier HS-YYYY-XXXXXX
    asking --> paused: "hủy" / "thôi" (draft kept)
    paused --> asking: start_dossier ("tiếp tục hồ sơ")
```
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.base import (
    PROCEDURE,
    BaseAction,
    intent_and_confidence,
    latest_text,
    mentioned_procedures,
    message_id,
    popular_procedures,
    slot_str,
)
from actions.handoff import HUMAN_BUTTON, signal_handover
from bot import clock, settings
from bot.dossiers import (
    DossierStore,
    FieldError,
    FormSession,
    add_working_days,
    checklist,
    format_checklist,
    make_pdf_token,
)
from bot.dossiers.codes import split_code
from bot.dossiers.validators import format_date
from bot.ratelimit import RateLimiter, RedisRateLimiter
from bot.vntext import fold

log = logging.getLogger(__name__)

ACTIVE = "dossier_active"
CONFIRM = "__confirm__"
REJECTED = "_rejected"              # draft bookkeeping: the field whose answers were refused, how many times
HANDOVER_AFTER_REJECTIONS = 3
# Compared without diacritics, so "dừng" is not here: it folds like "đúng" (yes).
_CANCEL = {"huy", "thoi", "dung lai", "thoi khong lam nua", "khong lam nua", "huy ho so", "thoi khoi",
           "tam dung", "de sau", "thoi de sau", "huy bo", "stop", "cancel"}
_EDIT = re.compile(r"^(sua|doi|thay doi|chinh|chinh sua|nhap lai)\b\s*(.*)$", re.ASCII)
_CONFIRM_WORDS = {"xac nhan", "dung", "dung roi", "ok", "dong y", "chinh xac", "co", "u", "uh", "vang", "da dung"}
_QUESTION = re.compile(r"\?|\b(gi|bao nhieu|bao lau|o dau|the nao|nhu the nao|khong)\s*\??$")
# The last 4 phone digits, once the code is cut out of the message (ASCII digits only).
_LAST4 = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])", re.ASCII)
CODE_EXAMPLE = "HS-2026-K7Q4MP"

# Guessing the last 4 phone digits of someone else's dossier: every attempt counts, in the
# persisted limiter (limits_db, shared by workers, kept across restarts), per dossier code,
# per conversation and over all codes; an attempt over any limit is refused without checking.
GUESS_WINDOW = 3600
GUESSES_PER_CODE = 5
GUESSES_PER_CLIENT = 20
GUESSES_GLOBAL = 200

TOO_MANY_GUESSES = ("Bạn đã nhập sai quá nhiều lần. Để bảo vệ thông tin cá nhân, bạn vui lòng thử lại sau 1 giờ, "
                    "hoặc tra cứu từ cuộc trò chuyện đã tạo hồ sơ.")


@lru_cache(maxsize=4)
def _store_at(path: str) -> DossierStore:
    return DossierStore(path)


def dossier_store() -> DossierStore:
    """The dossier store in the app's database (DATABASE_URL, or BOT_DATA_DIR/bot.db)."""
    return _store_at(str(settings.load().app_database))


@lru_cache(maxsize=4)
def _limiter_at(path: str, key_secret: str, redis_url: str = "") -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, key_secret=key_secret)
    return RateLimiter(path, key_secret=key_secret)


def guess_limiter() -> RateLimiter:
    """The persisted rate limiter (Redis with REDIS_URL, else BOT_DATA_DIR/limits.db); keys (conversation
    ids) stored as HMACs."""
    config = settings.load()
    return _limiter_at(str(config.limits_db), config.derived_secret("rate-limit-keys"), config.redis_url)


def guess_allowed(code: str, client: str) -> bool:
    """Count one phone-digit attempt on ``code`` from ``client``, unless a limit is reached (atomic)."""
    return guess_limiter().allow_all([
        (f"guess-code:{code}", GUESSES_PER_CODE, GUESS_WINDOW),
        (f"guess-client:{client}", GUESSES_PER_CLIENT, GUESS_WINDOW),
        ("guess-all", GUESSES_GLOBAL, GUESS_WINDOW),
    ])


def pdf_link(code: str) -> str:
    config = settings.load()
    token = make_pdf_token(code, config.secret(), ttl=config.pdf_link_hours * 3600)
    return f"{config.link_base}/dossiers/pdf/{token}"


def _public(answers: dict) -> dict:
    """Answers without the dialogue's own bookkeeping keys."""
    return {k: v for k, v in answers.items() if not k.startswith("_")}


def _ask(dispatcher: CollectingDispatcher, session: FormSession, answers: dict, field, prefix: str = "") -> None:
    done, total = session.progress(_public(answers))
    counter = f" ({done + 1}/{total})" if total else ""
    text = f"{prefix}{field.question()}{counter}"
    if field.why:
        text += f"\nVì sao cần: {field.why}"
    buttons = [{"title": c, "payload": c} for c in field.choices] if field.choices else []
    dispatcher.utter_message(text=text, buttons=buttons)


class ActionStartDossier(BaseAction):
    """Starts (or resumes) a draft dossier for the procedure the citizen named."""

    def name(self) -> str:
        return "action_start_dossier"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        store = dossier_store()
        conversation_id = str(tracker.sender_id)
        draft = store.load_draft(conversation_id)
        mid = message_id(tracker)
        if store.already_applied(draft, mid):
            return _repeat_question(dispatcher, self.catalogue, draft)
        mention = mentioned_procedures(tracker, self.catalogue)
        procedure_id = mention.ids[0] if len(mention.ids) == 1 else None
        if procedure_id is None and not mention.ids and draft is not None:
            procedure_id = draft.procedure_id  # "tiếp tục hồ sơ"
        procedure_id = procedure_id or (slot_str(tracker, PROCEDURE) if not mention.ids else None)
        procedure = self.catalogue.get(procedure_id) if procedure_id else None
        if procedure is None:
            candidates = [self.catalogue.get(p) for p in mention.ids] or popular_procedures(self.catalogue)
            dispatcher.utter_message(text="Bạn muốn chuẩn bị hồ sơ cho thủ tục nào?",
                                     buttons=replies.procedure_buttons(candidates, "start_dossier"))
            return []
        session = FormSession(procedure.id)
        if draft is not None and draft.procedure_id == procedure.id:
            answers = dict(draft.answers)
            prefix = "Mình tiếp tục hồ sơ bạn đang làm dở.\n\n"
        else:
            answers = {}
            prefix = self._intro(procedure, session)
            if draft is not None:
                old = self.catalogue.get(draft.procedure_id)
                prefix = f"(Hồ sơ nháp {old.short_name if old else ''} đang làm dở đã được thay bằng hồ sơ mới.)\n" + prefix
        return _continue(dispatcher, store, conversation_id, procedure, session, answers, prefix, message_id=mid)

    @staticmethod
    def _intro(procedure, session: FormSession) -> str:
        forms = {f.name + (f" (mẫu {f.code})" if f.code else "") for f in session.forms}
        has_pdf = any(f.has_pdf for f in session.forms)
        days = settings.load().draft_retention_days
        what = (f"điền sẵn {' hoặc '.join(sorted(forms))}" if has_pdf
                else "lập danh sách giấy tờ của trường hợp của bạn và mã hồ sơ để bạn theo dõi")
        pdf = " và tờ khai PDF để in, ký" if has_pdf else " và phiếu kiểm tra hồ sơ (PDF) để in"
        return (f"Mình sẽ giúp bạn chuẩn bị hồ sơ {procedure.name}. Mình hỏi lần lượt từng thông tin để {what}; "
                f"cuối cùng bạn kiểm tra lại, mình gửi mã hồ sơ, danh sách giấy tờ cần mang theo{pdf}.\n"
                f"Thông tin chỉ dùng để chuẩn bị hồ sơ; hồ sơ nháp không nộp sẽ tự xóa sau {days} ngày.\n"
                "Bất cứ lúc nào bạn có thể gõ \"sửa <mục>\" (ví dụ \"sửa ngày sinh\") hoặc \"hủy\" để dừng.\n\n")


def _confirm_question(dispatcher, session: FormSession, answers: dict, prefix: str = "") -> None:
    summary = session.summary(_public(answers), masked=False)
    dispatcher.utter_message(
        text=f"{prefix}Bạn kiểm tra lại thông tin:\n{summary}\n\nNếu đúng, bạn bấm \"Xác nhận\".",
        buttons=[{"title": "Xác nhận", "payload": "/affirm"}, {"title": "Sửa thông tin", "payload": "/deny"},
                 {"title": "Tạm dừng", "payload": "hủy"}])


def _continue(dispatcher, store: DossierStore, conversation_id: str, procedure, session: FormSession,
              answers: dict, prefix: str = "", message_id: Optional[int] = None) -> list[dict[str, Any]]:
    """Ask the next question, or show the summary to confirm when every question is answered.

    ``message_id`` (the message that led here) is recorded in the draft."""
    field = session.next_field(_public(answers))
    if field is None:
        answers["_confirm"] = True
        store.save_draft(conversation_id, procedure.id, answers, current_field=CONFIRM, message_id=message_id)
        _confirm_question(dispatcher, session, answers, prefix)
    else:
        store.save_draft(conversation_id, procedure.id, answers, current_field=field.key, message_id=message_id)
        _ask(dispatcher, session, answers, field, prefix)
    return [SlotSet(ACTIVE, True), SlotSet(PROCEDURE, procedure.id)]


def _repeat_question(dispatcher, catalogue, draft) -> list[dict[str, Any]]:
    """The draft's current question again, changing nothing (for a message delivered twice)."""
    log.info("message already applied to the draft, current question asked again")
    session = FormSession(draft.procedure_id)
    answers = dict(draft.answers)
    public = _public(answers)
    if draft.current_field == CONFIRM:
        _confirm_question(dispatcher, session, answers)
    else:
        field = session.field(draft.current_field, public) if draft.current_field else session.next_field(public)
        if field is None:
            _confirm_question(dispatcher, session, answers)
        else:
            _ask(dispatcher, session, answers, field)
    events = [SlotSet(ACTIVE, True)]
    if draft.procedure_id in catalogue:
        events.append(SlotSet(PROCEDURE, draft.procedure_id))
    return events


class ActionDossierStep(BaseAction):
    """Handles one message while a draft dossier is open."""

    def name(self) -> str:
        return "action_dossier_step"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        store = dossier_store()
        conversation_id = str(tracker.sender_id)
        draft = store.load_draft(conversation_id)
        if draft is None:
            dispatcher.utter_message(text="Hiện bạn không có hồ sơ nháp nào đang làm. Bạn muốn làm thủ tục gì?",
                                     buttons=replies.procedure_buttons(popular_procedures(self.catalogue),
                                                                       "start_dossier"))
            return [SlotSet(ACTIVE, False)]
        mid = message_id(tracker)
        if store.already_applied(draft, mid):
            return _repeat_question(dispatcher, self.catalogue, draft)
        procedure = self.catalogue.get(draft.procedure_id)
        session = FormSession(draft.procedure_id)
        answers = dict(draft.answers)
        text = latest_text(tracker)
        folded = fold(text).strip(" .!")
        intent, _ = intent_and_confidence(tracker)

        if folded in _CANCEL or text.lower().strip(" .!") == "dừng":
            return self._pause(dispatcher, procedure, answers)
        edit = _EDIT.match(folded)
        if edit or (draft.current_field == CONFIRM and intent == "deny"):
            return self._edit(dispatcher, store, conversation_id, procedure, session, answers,
                              edit.group(2) if edit else "", mid)
        if draft.current_field == CONFIRM:
            if intent == "affirm" or folded in _CONFIRM_WORDS:
                return self._create(dispatcher, store, conversation_id, procedure, session, answers)
            if self._is_question(tracker, folded):
                return self._answer_question(dispatcher, tracker, store, conversation_id, procedure, session,
                                             answers, mid)
            return _continue(dispatcher, store, conversation_id, procedure, session, answers,
                             "Bạn bấm \"Xác nhận\" nếu thông tin đã đúng, hoặc gõ \"sửa <mục>\" để sửa.\n\n",
                             message_id=mid)
        field = session.next_field(_public(answers)) if draft.current_field is None else \
            session.field(draft.current_field, _public(answers))
        looks_like_question = self._is_question(tracker, folded)
        if looks_like_question and field.type in ("text", "address", "choice"):
            return self._answer_question(dispatcher, tracker, store, conversation_id, procedure, session, answers, mid)
        try:
            new = session.apply_answer(field.key, text, _public(answers))
        except FieldError as error:
            if looks_like_question:
                return self._answer_question(dispatcher, tracker, store, conversation_id, procedure, session,
                                             answers, mid)
            return self._rejected(dispatcher, tracker, store, conversation_id, draft, answers, field.key,
                                  error.message, mid)
        new.update({k: v for k, v in answers.items() if k.startswith("_") and k != REJECTED})
        return _continue(dispatcher, store, conversation_id, procedure, session, new, message_id=mid)

    def _rejected(self, dispatcher, tracker, store, conversation_id, draft, answers, key: str, message: str,
                  mid=None) -> list[dict[str, Any]]:
        """An answer the form refused. The second time in a row for the same field the citizen is offered
        a person; the third time the case is taken to be outside the form's rules and handed over."""
        previous = answers.get(REJECTED) if isinstance(answers.get(REJECTED), dict) else {}
        count = previous.get("count", 0) + 1 if previous.get("field") == key else 1
        store.save_draft(conversation_id, draft.procedure_id, {**answers, REJECTED: {"field": key, "count": count}},
                         form_id=draft.form_id, current_field=draft.current_field, message_id=mid)
        if count >= HANDOVER_AFTER_REJECTIONS:
            dispatcher.utter_message(text=f"{message}\nCó vẻ trường hợp của bạn nằm ngoài những gì tờ khai này xử lý "
                                          "được. Mình chuyển bạn đến tư vấn viên; hồ sơ nháp của bạn vẫn được giữ.")
            signal_handover(dispatcher, tracker, self.catalogue, "dossier")
            return [SlotSet(ACTIVE, True)]
        buttons = [HUMAN_BUTTON] if count >= 2 else []
        dispatcher.utter_message(text=f"{message}\nBạn nhập lại giúp mình nhé.", buttons=buttons)
        return [SlotSet(ACTIVE, True)]

    @staticmethod
    def _is_question(tracker: Tracker, folded: str) -> bool:
        name, confidence = intent_and_confidence(tracker)
        asks = name in replies.ANSWERS and confidence >= 0.7
        return asks and bool(_QUESTION.search(folded))

    def _answer_question(self, dispatcher, tracker, store, conversation_id, procedure, session, answers, mid=None):
        mention = mentioned_procedures(tracker, self.catalogue)
        about = self.catalogue.get(mention.ids[0]) if mention.ids else procedure
        dispatcher.utter_message(text=replies.answer_text(intent_and_confidence(tracker)[0], about))
        return _continue(dispatcher, store, conversation_id, procedure, session, answers, "Quay lại hồ sơ của bạn:\n",
                         message_id=mid)

    def _pause(self, dispatcher, procedure, answers) -> list[dict[str, Any]]:
        kept = len(_public(answers))
        days = settings.load().draft_retention_days
        if kept:
            text = (f"Đã tạm dừng hồ sơ {procedure.short_name}. Mình giữ lại {kept} thông tin bạn đã trả lời "
                    f"(tự xóa sau {days} ngày); chưa có hồ sơ nào được tạo. Khi muốn làm tiếp, bạn nhắn "
                    "\"tiếp tục hồ sơ\".")
        else:
            text = "Đã dừng. Bạn chưa nhập thông tin nào nên không có gì được lưu."
        dispatcher.utter_message(text=text)
        return [SlotSet(ACTIVE, False)]

    def _edit(self, dispatcher, store, conversation_id, procedure, session, answers, words: str, mid=None):
        public = _public(answers)
        fields = session.find_fields(words, public) if words else []
        if len(fields) == 1:
            field = fields[0]
            store.save_draft(conversation_id, procedure.id, answers, current_field=field.key, message_id=mid)
            _ask(dispatcher, session, answers, field, f"Sửa \"{field.label}\":\n")
            return [SlotSet(ACTIVE, True)]
        form = session.form_for(session.effective_answers(public))
        options = fields or [f for f in (form.fields if form else []) if f.key in public]
        dispatcher.utter_message(text="Bạn muốn sửa mục nào?",
                                 buttons=[{"title": f.label, "payload": f"sửa {f.label}"} for f in options[:12]])
        return [SlotSet(ACTIVE, True)]

    def _create(self, dispatcher, store, conversation_id, procedure, session, answers):
        public = _public(answers)
        form = session.form_for(session.effective_answers(public))
        dossier = store.create(procedure.id, conversation_id, public, form_id=form.id, phone=public.get("phone"))
        items = checklist(procedure, public)
        days = procedure.working_days()
        lines = [f"Đã tạo hồ sơ nháp {dossier.code} — {procedure.name}.", "", format_checklist(items), "",
                 f"Lệ phí: {procedure.fee_summary()}",
                 f"Thời gian giải quyết: {procedure.duration_summary()}"]
        if days:
            expected = add_working_days(clock.today(), days)
            lines.append(f"Nếu nộp hôm nay, dự kiến có kết quả ngày {format_date(expected)}.")
        tail = []
        if form.has_pdf or form.is_generic:
            hours = settings.load().pdf_link_hours
            what = "Tờ khai điền sẵn (PDF, in ra và ký)" if form.has_pdf else "Phiếu kiểm tra hồ sơ (PDF, để in và đánh dấu)"
            tail += [f"{what}: {pdf_link(dossier.code)}", f"(Liên kết dùng được trong {hours} giờ.)"]
        ways = replies.submit_ways(procedure)
        if ways:
            tail += ["", "Nộp hồ sơ:"] + [f"• {w}" for w in ways]
        if self.catalogue.is_imported(procedure.id):
            tail += ["", *replies.national_source(procedure)]
        tail += ["", f"Để xem tình trạng hồ sơ, bạn nhắn: \"hồ sơ {dossier.code} đến đâu rồi\"."]
        # The checklist may be long (imported records): it is shortened, the code and the links are kept.
        dispatcher.utter_message(text=replies.fit("\n".join(lines), "\n".join(tail), replies.portal_link(procedure)))
        return [SlotSet(ACTIVE, False)]


class ActionCheckStatus(BaseAction):
    """Tells the state of a dossier to its owner: in the same chat (with staff notes), or to
    whoever quotes the last 4 digits of the registered phone (state only, rate-limited)."""

    def name(self) -> str:
        return "action_check_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        store = dossier_store()
        conversation_id = str(tracker.sender_id)
        found = split_code(latest_text(tracker))
        if not found:
            return self._list_own(dispatcher, store, conversation_id)
        code, start, end, text = found
        own = store.get_for(code, conversation_id=conversation_id)
        if own is not None:
            dispatcher.utter_message(text=self._status_text(store, own, own=True))
            return []
        last4 = _LAST4.search(text[:start] + " " + text[end:])
        if last4 is None:
            dispatcher.utter_message(text=f"Để bảo vệ thông tin cá nhân, bạn gửi giúp mình mã hồ sơ kèm 4 số cuối "
                                          f"số điện thoại đã đăng ký, ví dụ: \"{code} 6789\".")
            return []
        if not guess_allowed(code, conversation_id):
            log.info("status by phone digits refused for %s: too many attempts", code)
            dispatcher.utter_message(text=TOO_MANY_GUESSES)
            return []
        dossier = store.get_for(code, phone_last4=last4.group(1))
        if dossier is None:
            dispatcher.utter_message(text=f"Không tìm thấy hồ sơ {code}, hoặc 4 số cuối điện thoại không khớp. "
                                          "Bạn kiểm tra lại giúp mình nhé.")
            return []
        dispatcher.utter_message(text=self._status_text(store, dossier, own=False))
        return []

    def _status_text(self, store: DossierStore, dossier, own: bool) -> str:
        """State, next steps and expected date; staff notes and the PDF link only for the owner's chat."""
        procedure = self.catalogue.get(dossier.procedure_id)
        history = store.history(dossier.code)
        last = history[-1] if history else None
        when = last.at.astimezone(clock.VN_TZ).strftime('%H:%M %d/%m/%Y') if last else ""
        lines = [f"Hồ sơ {dossier.code} — {procedure.name if procedure else dossier.procedure_id}",
                 f"Trạng thái: {dossier.state_label}" + (f" (cập nhật {when})" if last else "")]
        if own and last and last.note:
            lines.append(f"Ghi chú: {last.note}")
        lines.append(f"Bước tiếp theo: {dossier.next_steps}")
        if dossier.expected_date:
            lines.append(f"Dự kiến có kết quả: {format_date(dossier.expected_date)} (đã trừ ngày nghỉ, lễ, Tết).")
        if own and dossier.state == "nhap":
            lines.append(f"Tờ khai điền sẵn: {pdf_link(dossier.code)}")
        if not own and last and last.note:
            lines.append("Ghi chú của cán bộ chỉ xem được trong cuộc trò chuyện đã tạo hồ sơ.")
        return "\n".join(lines)

    def _list_own(self, dispatcher, store: DossierStore, conversation_id: str) -> list[dict[str, Any]]:
        own = store.list_for_conversation(conversation_id)
        if not own:
            dispatcher.utter_message(text=f"Bạn gửi giúp mình mã hồ sơ (dạng {CODE_EXAMPLE}) kèm 4 số cuối số điện "
                                          "thoại đã đăng ký để mình tra cứu nhé.")
            return []
        lines = ["Hồ sơ của bạn:"] + [f"• {d.code}: {d.state_label}" for d in own[:10]]
        buttons = [{"title": d.code, "payload": f"hồ sơ {d.code} đến đâu rồi"} for d in own[:5]]
        dispatcher.utter_message(text="\n".join(lines), buttons=buttons)
        return []

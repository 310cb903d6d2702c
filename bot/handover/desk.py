"""The handover desk: what happens when a citizen needs a person, on both sides.

Citizen side (called by ``bot.conversations.Router``):

- ``request`` puts the conversation in the queue and says where the citizen stands ("Bạn đang ở
  vị trí số 3, thời gian chờ khoảng 5 phút") — or, outside ``OFFICE_HOURS`` or with nobody online,
  says so and offers a call-back. While the chat waits, the bot keeps answering.
- ``intercept`` answers the messages that belong to the desk, not to Rasa: the call-back steps
  (phone number, validated by the dossier forms' own ``parse_phone``, then the question) and the
  rating after a closed chat (buttons 1–5, or "5 cảm ơn bạn" typed).
- ``during_handover`` handles a citizen message while a volunteer has the chat: nothing answers
  automatically; the message goes to Rasa's *paused* tracker (``RasaClient.record``) so that the
  conversation's record — intent, entities, slots — stays whole for when the bot resumes.

Volunteer side (called by ``bot.console``): claim, assign, reply, note, release ("Trả lại cho bot":
the tracker is resumed, the bot says so and goes on with the same procedure slot and draft),
close ("Kết thúc": resumed too, and the citizen is asked for a rating). Replies go out through the
citizen's own channel: the message store (web chat, pushed by its event stream) and
``bot.delivery.Delivery`` (the Telegram / Zalo outbox).

Visibility: a waiting chat is visible to every volunteer (the queue is the city's); once claimed it
belongs to the claimer's team: volunteers and supervisors see their own team's chats, admins all.
``tick`` (every few seconds, from the app) returns unanswered claims to the queue after
``HANDOVER_CLAIM_TIMEOUT_MINUTES``, marks volunteers whose console has not been seen for
``PRESENCE_TIMEOUT`` seconds offline (their chats go back to the queue) and tells waiting citizens
their new place.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import statistics
from dataclasses import dataclass
from typing import Callable

from starlette.concurrency import run_in_threadpool

from bot.dossiers.masking import mask, mask_numbers
from bot.dossiers.validators import FieldError, parse_phone
from bot.handover.officehours import OfficeHours
from bot.handover.store import AlreadyClaimed, Handover, HandoverStore, NotFound
from bot.rasa_client import RasaError
from bot.textinput import normalise_input
from bot.vntext import fold

log = logging.getLogger(__name__)

__all__ = ["Desk", "Forbidden", "Conflict", "NotFound", "CALLBACK_PAYLOAD", "RATE_PAYLOADS", "PRESENCE_TIMEOUT"]

CALLBACK_PAYLOAD = "/callback"
RATE_PAYLOADS = {f"/rate_{n}": n for n in range(1, 6)}
PRESENCE_TIMEOUT = 90.0           # seconds without a sign of the console → offline
CALLBACK_DRAFT_MINUTES = 30       # a call-back left half-way is forgotten after this
RATING_HOURS = 24                 # a rating is accepted this long after the chat closed
TYPICAL_HANDLING = 300.0          # seconds per chat for the wait estimate until there is history
MAX_QUESTION_CHARS = 500
MAX_REPLY_CHARS = 2000

QUEUED = ("Mình đã chuyển cuộc trò chuyện đến tổ tư vấn. Bạn đang ở vị trí số {position}, thời gian chờ khoảng "
          "{minutes} phút. Trong lúc chờ, bạn vẫn có thể hỏi mình như bình thường.")
POSITION = "Bạn đang ở vị trí số {position} trong hàng chờ tư vấn viên, thời gian chờ khoảng {minutes} phút."
CLAIMED = "Tư vấn viên {name} đã nhận cuộc trò chuyện và sẽ trả lời bạn ngay tại đây."
REQUEUED = ("Tư vấn viên vừa phải rời cuộc trò chuyện nên mình xếp bạn lại vào hàng chờ: bạn đang ở vị trí số "
            "{position}. Bạn chờ thêm chút nhé, trong lúc đó mình vẫn trả lời được các câu hỏi về thủ tục.")
RELEASED = ("Tư vấn viên đã trả lại cuộc trò chuyện cho trợ lý tự động. Bạn cứ hỏi tiếp{about}, mình vẫn nhớ "
            "những gì bạn đã trao đổi.")
CLOSED = ("Tư vấn viên đã kết thúc cuộc trò chuyện. Cảm ơn bạn! Bạn thấy sự hỗ trợ thế nào? Bạn chọn từ 1 (chưa tốt) "
          "đến 5 (rất tốt); có thể nhắn kèm góp ý, ví dụ: “5 hướng dẫn rất rõ”.")
RATED = "Cảm ơn bạn đã đánh giá! Khi cần hỏi thêm về thủ tục, bạn cứ nhắn cho mình."
NOBODY_ONLINE = "Hiện chưa có tư vấn viên nào trực tuyến."
CALLBACK_OFFER = ("Bạn có thể để lại câu hỏi và số điện thoại, tổ tư vấn sẽ gọi lại cho bạn trong giờ làm việc. "
                  "Trong lúc chờ, mình vẫn trả lời được các câu hỏi về thủ tục.")
CALLBACK_ASK_PHONE = ("Bạn cho mình số điện thoại di động để tư vấn viên gọi lại (ví dụ 0912 345 678). "
                      "Nhắn “hủy” nếu bạn đổi ý.")
CALLBACK_BAD_PHONE = "{error}\nBạn nhập lại số điện thoại, hoặc nhắn “hủy” để thôi."
CALLBACK_ASK_QUESTION = "Bạn muốn tư vấn viên hỗ trợ việc gì? Bạn nhắn ngắn gọn câu hỏi của mình nhé."
CALLBACK_DONE = ("Mình đã ghi nhận yêu cầu gọi lại số {phone}. Tổ tư vấn sẽ gọi cho bạn {when}. Trong lúc chờ, bạn "
                 "vẫn có thể hỏi mình về thủ tục.")
CALLBACK_CANCELLED = "Đã hủy yêu cầu gọi lại. Bạn cần hỏi gì thêm cứ nhắn cho mình nhé."
CALLBACK_WHEN_OPEN = "sớm nhất có thể"
CALLBACK_WHEN_CLOSED = "khi vào giờ làm việc"
CALLBACK_BUTTON = {"title": "Để lại số điện thoại", "payload": CALLBACK_PAYLOAD}
RATING_BUTTONS = [{"title": str(n), "payload": f"/rate_{n}"} for n in range(1, 6)]
CANCEL_WORDS = {"huy", "thoi", "khong", "dung", "bo qua", "huy bo", "cancel"}
_RATING_TEXT = re.compile(r"^\s*([1-5])\s*(?:sao|diem|\*+|/\s*5)?(?:[\s,.:;!-]+(.*))?$", re.IGNORECASE | re.DOTALL)

DEFAULT_CANNED = [
    ("chao", "Chào bạn, mình là tư vấn viên của tổ tư vấn phường. Mình đã đọc các tin nhắn trước của bạn, "
             "mình hỗ trợ bạn ngay nhé."),
    ("cho", "Bạn chờ mình một chút, mình kiểm tra thông tin rồi trả lời bạn ngay."),
    ("vneid", "Bạn có thể nộp hồ sơ trực tuyến trên ứng dụng VNeID hoặc Cổng Dịch vụ công quốc gia "
              "(dichvucong.gov.vn), đăng nhập bằng tài khoản định danh điện tử mức 2."),
    ("motcua", "Bạn có thể mang hồ sơ đến Bộ phận Một cửa của UBND phường/xã nơi cư trú trong giờ hành chính "
               "để được hướng dẫn trực tiếp."),
    ("camon", "Cảm ơn bạn đã liên hệ. Nếu cần hỏi thêm, bạn cứ nhắn vào đây nhé."),
]

ROLES_ALL_TEAMS = frozenset({"admin"})
ROLES_ASSIGN = frozenset({"supervisor", "admin"})
CONSOLE_ROLES = frozenset({"volunteer", "supervisor", "admin"})


class Forbidden(Exception):
    """The volunteer may not see or act on this conversation."""


class Conflict(Exception):
    """The action does not fit the chat's state (``owner`` has it, it is closed …)."""

    def __init__(self, message: str, owner: str | None = None):
        super().__init__(message)
        self.owner = owner


@dataclass(frozen=True)
class Actor:
    """Who acts in the console (from the login session)."""

    username: str
    role: str
    team: str | None
    display_name: str | None = None

    @property
    def name(self) -> str:
        return self.display_name or self.username


def reply(text: str, buttons: list[dict] | None = None) -> dict:
    return {"text": text, "buttons": list(buttons or [])}


class Desk:
    def __init__(self, store: HandoverStore, messages, rasa, delivery, accounts, hours: OfficeHours,
                 *, claim_timeout: float = 600.0, presence_timeout: float = PRESENCE_TIMEOUT,
                 notify: Callable[[], None] = lambda: None, catalogue=None, dossiers=None):
        self.store = store
        self.dossiers = dossiers      # bot.dossiers.DossierStore: the console shows the chat's dossier
        self.messages = messages
        self.rasa = rasa
        self.delivery = delivery
        self.accounts = accounts
        self.hours = hours
        self.claim_timeout = claim_timeout
        self.presence_timeout = presence_timeout
        self._notify = notify
        self._catalogue = catalogue
        store.seed_canned(DEFAULT_CANNED)

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def catalogue(self):
        if self._catalogue is None:
            from procedures import default_catalogue

            self._catalogue = default_catalogue()
        return self._catalogue

    def procedure_name(self, procedure_id: str | None) -> str | None:
        procedure = self.catalogue.get(procedure_id) if procedure_id else None
        return procedure.name if procedure else None

    def _say(self, conversation_id: str, channel: str, replies: list[dict], author: str | None = None) -> None:
        """Store messages to the citizen (masked) and send them on the citizen's channel."""
        for item in replies:
            self.messages.add(conversation_id, "out", mask_numbers(item["text"]), channel=channel,
                              buttons=item.get("buttons") or None, author=author)
        self.delivery.send(conversation_id, channel, replies)

    def online_volunteers(self) -> list[str]:
        since = self.store.now() - dt.timedelta(seconds=self.presence_timeout)
        return self.store.online(since)

    def wait_minutes(self, position: int) -> int:
        recent = self.store.recent_handling_seconds()
        typical = statistics.median(recent) if recent else TYPICAL_HANDLING
        typical = min(max(typical, 60.0), 1800.0)
        helpers = max(1, len(self.online_volunteers()))
        return max(1, math.ceil(position * typical / helpers / 60.0))

    def _position_text(self, template: str, conversation_id: str) -> tuple[str, int | None]:
        position = self.store.position(conversation_id)
        if position is None:
            return "", None
        return template.format(position=position, minutes=self.wait_minutes(position)), position

    # --- citizen side ----------------------------------------------------------------------------

    def claimed(self, conversation_id: str) -> Handover | None:
        handover = self.store.open_for(conversation_id)
        return handover if handover is not None and handover.state == "claimed" else None

    def request(self, conversation_id: str, channel: str, reason: str, procedure: str | None = None) -> list[dict]:
        """The citizen needs a person: queue the chat (or offer a call-back); the replies to send."""
        handover = self.store.open_for(conversation_id)
        if handover is None:
            now = self.store.now()
            if not self.hours.is_open(now):
                return [reply(self.hours.closed_message(now) + " " + CALLBACK_OFFER, [CALLBACK_BUTTON])]
            if not self.online_volunteers():
                return [reply(NOBODY_ONLINE + " " + CALLBACK_OFFER, [CALLBACK_BUTTON])]
            handover, _ = self.store.request(conversation_id, channel, reason, procedure)
            log.info("handover %s requested (%s)", handover.id, reason)
            self._notify()
            text, position = self._position_text(QUEUED, conversation_id)
            self.store.set_notified_position(handover.id, position)
            return [reply(text)]
        if handover.state == "claimed":
            return []
        text, position = self._position_text(POSITION, conversation_id)
        self.store.set_notified_position(handover.id, position)
        return [reply(text)]

    def intercept(self, conversation_id: str, channel: str, text: str, payload: str | None) -> list[dict] | None:
        """Replies for a message the desk answers itself (call-back steps, rating), else None."""
        if payload == CALLBACK_PAYLOAD:
            self.store.start_callback(conversation_id)
            return [reply(CALLBACK_ASK_PHONE)]
        if payload in RATE_PAYLOADS:
            return self._rate(conversation_id, RATE_PAYLOADS[payload], None) or [reply(RATED)]
        if payload is not None:
            return None
        newer = self.store.now() - dt.timedelta(minutes=CALLBACK_DRAFT_MINUTES)
        draft = self.store.callback_draft(conversation_id, newer)
        if draft is not None:
            return self._callback_step(conversation_id, channel, text, draft)
        match = _RATING_TEXT.match(fold(text))
        if match:
            comment = text[match.start(2):].strip() if match.group(2) else None
            return self._rate(conversation_id, int(match.group(1)), comment)
        return None

    def _rate(self, conversation_id: str, score: int, comment: str | None) -> list[dict] | None:
        latest = self.store.latest_for(conversation_id)
        if latest is None or latest.state != "closed" or latest.rating_asked_at is None or latest.rating is not None:
            return None
        asked = dt.datetime.fromisoformat(latest.rating_asked_at)
        if self.store.now() - asked > dt.timedelta(hours=RATING_HOURS):
            return None
        comment = mask_numbers(comment)[:MAX_QUESTION_CHARS] if comment else None
        if not self.store.rate(latest.id, score, comment):
            return None
        self._notify()
        return [reply(RATED)]

    def _callback_step(self, conversation_id: str, channel: str, text: str, draft: dict) -> list[dict] | None:
        word = fold(text).strip(" .!")
        if word in CANCEL_WORDS:
            self.store.drop_callback_draft(conversation_id)
            return [reply(CALLBACK_CANCELLED)]
        if draft["step"] == "phone":
            if not any(ch.isdigit() for ch in text):
                self.store.drop_callback_draft(conversation_id)   # a question instead: the bot answers it
                return None
            try:
                phone = parse_phone(text)
            except FieldError as error:
                return [reply(CALLBACK_BAD_PHONE.format(error=error.message))]
            self.store.callback_phone(conversation_id, phone)
            return [reply(CALLBACK_ASK_QUESTION)]
        question = mask_numbers(normalise_input(text))[:MAX_QUESTION_CHARS]
        procedure = None
        latest = self.store.latest_for(conversation_id)
        if latest is not None:
            procedure = latest.procedure
        callback = self.store.add_callback(conversation_id, channel, question, draft["phone"], procedure)
        log.info("call-back %s requested", callback.id)
        self._notify()
        when = CALLBACK_WHEN_OPEN if self.hours.is_open(self.store.now()) else CALLBACK_WHEN_CLOSED
        return [reply(CALLBACK_DONE.format(phone=mask(draft["phone"]), when=when))]

    async def during_handover(self, handover: Handover, message_id: int, text: str, channel: str) -> None:
        """A citizen message while a volunteer has the chat: recorded in Rasa's paused tracker only."""
        await run_in_threadpool(self.store.citizen_wrote, handover.id)
        self._notify()
        try:
            if not handover.paused:
                await self.rasa.append_events(handover.conversation_id, [{"event": "pause"}])
                await run_in_threadpool(self.store.set_paused, handover.id, True)
            await self.rasa.record(handover.conversation_id, text, {"channel": channel, "message_id": message_id,
                                                                    "handover": True})
            await self.rasa.append_events(handover.conversation_id, [{"event": "action", "name": "action_listen"}])
        except RasaError as error:
            log.warning("message %s not recorded in Rasa during a handover: %s", message_id, type(error).__name__)

    # --- volunteer side --------------------------------------------------------------------------

    def visible(self, actor: Actor, handover: Handover) -> bool:
        if actor.role in ROLES_ALL_TEAMS:
            return True
        if handover.state == "waiting":
            return True
        return handover.team is not None and handover.team == actor.team

    def _handover_for(self, actor: Actor, conversation_id: str, open_only: bool = False) -> Handover:
        handover = self.store.open_for(conversation_id) or (None if open_only else
                                                             self.store.latest_for(conversation_id))
        if handover is None:
            raise NotFound(conversation_id)
        if not self.visible(actor, handover):
            raise Forbidden(conversation_id)
        return handover

    def seen(self, actor: Actor) -> None:
        self.store.seen(actor.username)

    # The volunteer actions are coroutines because they talk to Rasa; their database work (the
    # store, the messages, the outbox) runs in a worker thread, never on the event loop.

    async def claim(self, actor: Actor, conversation_id: str) -> Handover:
        handover = await run_in_threadpool(self._claim, actor, conversation_id)
        await self._started(handover, actor)
        return handover

    def _claim(self, actor: Actor, conversation_id: str) -> Handover:
        handover = self._handover_for(actor, conversation_id)
        if handover.state == "closed":
            raise Conflict("Cuộc trò chuyện này đã kết thúc.")
        try:
            return self.store.claim(conversation_id, actor.username, actor.team)
        except AlreadyClaimed as taken:
            raise Conflict(f"Cuộc trò chuyện này đã có {taken.owner or 'người khác'} nhận.", taken.owner) from None

    async def assign(self, actor: Actor, conversation_id: str, username: str) -> Handover:
        handover, target = await run_in_threadpool(self._assign, actor, conversation_id, username)
        await self._started(handover, Actor(target.username, target.role, target.team, target.display_name))
        return handover

    def _assign(self, actor: Actor, conversation_id: str, username: str):
        if actor.role not in ROLES_ASSIGN:
            raise Forbidden(conversation_id)
        handover = self._handover_for(actor, conversation_id, open_only=True)
        try:
            target = self.accounts.get(username)
        except Exception:  # noqa: BLE001 — unknown or malformed username
            raise NotFound(username) from None
        if target.disabled or target.role not in CONSOLE_ROLES:
            raise Conflict("Tài khoản này không nhận được cuộc trò chuyện.")
        if actor.role != "admin" and target.team != actor.team:
            raise Forbidden(username)
        return self.store.assign(conversation_id, target.username, target.team, actor.username), target

    async def _started(self, handover: Handover, owner: Actor) -> None:
        """The chat has an owner: pause the bot, tell the citizen, move the queue on."""
        await self._pause(handover)
        await run_in_threadpool(self._announce, handover, [reply(CLAIMED.format(name=owner.name))])

    def _announce(self, handover: Handover, replies: list[dict]) -> None:
        """Tell the citizen, the consoles and the waiting queue that a chat changed hands."""
        self._say(handover.conversation_id, handover.channel, replies)
        self._notify()
        self.update_positions()

    async def _pause(self, handover: Handover) -> None:
        try:
            await self.rasa.append_events(handover.conversation_id, [{"event": "pause"}])
            await run_in_threadpool(self.store.set_paused, handover.id, True)
        except RasaError as error:   # the app's own gate keeps the bot silent; paused later
            log.warning("could not pause the tracker of handover %s: %s", handover.id, type(error).__name__)

    async def _resume(self, handover: Handover) -> None:
        try:
            await self.rasa.append_events(handover.conversation_id, [{"event": "resume"}])
        except RasaError as error:
            log.warning("could not resume the tracker of handover %s: %s", handover.id, type(error).__name__)

    def _owned(self, actor: Actor, conversation_id: str) -> Handover:
        handover = self._handover_for(actor, conversation_id)
        if handover.state != "claimed":
            raise Conflict("Bạn cần nhận cuộc trò chuyện này trước." if handover.state == "waiting"
                           else "Cuộc trò chuyện này đã kết thúc.", handover.assigned_to)
        if handover.assigned_to != actor.username:
            raise Conflict(f"Cuộc trò chuyện này đang do {handover.assigned_to} phụ trách.", handover.assigned_to)
        return handover

    async def send(self, actor: Actor, conversation_id: str, text: str) -> dict:
        """The volunteer's reply, through the citizen's channel; also in Rasa's tracker (masked)."""
        text = normalise_input(text)[:MAX_REPLY_CHARS]
        message_id = await run_in_threadpool(self._reply, actor, conversation_id, text)
        try:
            await self.rasa.append_events(conversation_id, [{"event": "bot", "text": mask_numbers(text),
                                                             "metadata": {"volunteer": actor.username}}])
        except RasaError as error:
            log.warning("volunteer reply not recorded in Rasa: %s", type(error).__name__)
        return {"id": message_id, "direction": "out", "sender": "volunteer", "author": actor.username,
                "author_name": actor.name, "text": mask_numbers(text), "created_at": self.store.now_iso()}

    def _reply(self, actor: Actor, conversation_id: str, text: str) -> int:
        handover = self._owned(actor, conversation_id)
        message_id = self.messages.add(conversation_id, "out", mask_numbers(text), channel=handover.channel,
                                       author=actor.username)
        self.delivery.send(conversation_id, handover.channel, [reply(text)])
        self.store.volunteer_replied(handover.id, actor.username, actor.team)
        self._notify()
        return message_id

    def note(self, actor: Actor, conversation_id: str, text: str) -> dict:
        handover = self._handover_for(actor, conversation_id)
        note = self.store.add_note(conversation_id, actor.username, mask_numbers(normalise_input(text))[:2000],
                                   handover.id)
        self._notify()
        return {**note, "author_name": actor.name}

    async def release(self, actor: Actor, conversation_id: str) -> Handover:
        handover, ended = await run_in_threadpool(self._end, actor, conversation_id, "released", None)
        await self._resume(handover)
        about = ""
        if handover.procedure and (procedure := self.catalogue.get(handover.procedure)):
            about = f" về {procedure.short_name}"
        await run_in_threadpool(self._announce, handover, [reply(RELEASED.format(about=about))])
        return ended

    async def close(self, actor: Actor, conversation_id: str, reason: str | None) -> Handover:
        reason = mask_numbers(normalise_input(reason))[:500] if reason else None
        handover, ended = await run_in_threadpool(self._end, actor, conversation_id, "closed", reason)
        await self._resume(handover)
        await run_in_threadpool(self._announce, handover, [reply(CLOSED, RATING_BUTTONS)])
        return ended

    def _end(self, actor: Actor, conversation_id: str, state: str, reason: str | None) -> tuple[Handover, Handover]:
        handover = self._owned_or_supervised(actor, conversation_id)
        return handover, self.store.end(handover.id, state, actor.username, reason)

    def _owned_or_supervised(self, actor: Actor, conversation_id: str) -> Handover:
        handover = self._handover_for(actor, conversation_id)
        if handover.state == "closed":
            raise Conflict("Cuộc trò chuyện này đã kết thúc.")
        if actor.role in ROLES_ASSIGN or handover.assigned_to == actor.username:
            return handover
        if handover.state == "waiting":
            raise Conflict("Bạn cần nhận cuộc trò chuyện này trước.")
        raise Conflict(f"Cuộc trò chuyện này đang do {handover.assigned_to} phụ trách.", handover.assigned_to)

    def callback_done(self, actor: Actor, callback_id: int):
        callback = self.store.callback(callback_id)
        if callback is None:
            raise NotFound(str(callback_id))
        done = self.store.callback_done(callback_id, actor.username, actor.team)
        self._notify()
        return done

    # --- presence and housekeeping ---------------------------------------------------------------

    def logged_in(self, username: str, role: str) -> None:
        if role in CONSOLE_ROLES:
            self.store.set_presence(username, "online")
            self._notify()

    def set_presence(self, actor: Actor, status: str) -> None:
        self.store.set_presence(actor.username, status)
        if status == "offline":
            self.requeue_all(actor.username, "offline")
        self._notify()

    def logged_out(self, username: str) -> None:
        self.store.set_presence(username, "offline")
        self.requeue_all(username, "logout")
        self._notify()

    def requeue_all(self, username: str, why: str) -> int:
        count = 0
        for handover in self.store.claimed_by(username):
            if self._requeue(handover, why):
                count += 1
        return count

    def _requeue(self, handover: Handover, why: str) -> bool:
        back = self.store.requeue(handover.id, why)
        if back is None:
            return False
        log.info("handover %s back in the queue (%s)", handover.id, why)
        position = self.store.position(handover.conversation_id)
        self._say(handover.conversation_id, handover.channel, [reply(REQUEUED.format(position=position or 1))])
        self.store.set_notified_position(handover.id, position)
        return True

    def update_positions(self) -> None:
        """Tell each waiting citizen whose place moved up their new place."""
        for position, handover in enumerate(self.store.waiting(), 1):
            if handover.notified_position is not None and position < handover.notified_position:
                self._say(handover.conversation_id, handover.channel,
                          [reply(POSITION.format(position=position, minutes=self.wait_minutes(position)))])
            if handover.notified_position != position:
                self.store.set_notified_position(handover.id, position)

    def tick(self) -> None:
        """Claim time-outs and vanished consoles (run every few seconds by the app)."""
        now = self.store.now()
        moved = False
        for handover in self.store.stale_claims(now - dt.timedelta(seconds=self.claim_timeout)):
            moved |= self._requeue(handover, "timeout")
        for username in self.store.gone(now - dt.timedelta(seconds=self.presence_timeout)):
            self.store.set_presence(username, "offline")
            moved |= self.requeue_all(username, "offline") > 0
        if moved:
            self._notify()
            self.update_positions()

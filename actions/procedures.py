"""Actions that answer questions from the procedure catalogue and keep the topic."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.base import (
    PROCEDURE,
    BaseAction,
    latest_intent,
    latest_text,
    mentioned_procedures,
    popular_procedures,
    procedure_slot,
)
from actions.handoff import HUMAN_BUTTON, consecutive_fallbacks, signal_handover

ASK_INTENTS = set(replies.ANSWERS)
MAX_CANDIDATES = 4
# Questions that are about one procedure's facts: with a procedure in hand, they are follow-ups
# about it even when the words also fit an entry of the services FAQ.
SPECIFIC_INTENTS = {"ask_papers", "ask_fee", "ask_duration", "ask_where"}
# When the model hesitates between two of these for a named procedure, ask which one
# ("Bạn muốn biết giấy tờ cần chuẩn bị hay cách nộp hồ sơ?") instead of answering either.
CHOICE_PHRASES = {
    "ask_papers": "giấy tờ cần chuẩn bị",
    "ask_fee": "lệ phí",
    "ask_duration": "thời gian giải quyết",
    "ask_where": "nộp hồ sơ ở đâu",
    "ask_how": "cách nộp hồ sơ",
    "ask_procedure": "điều kiện và quy định chung",
    "start_dossier": "tạo hồ sơ nháp ngay",
}
CHOICE_TITLES = {**replies.TOPICS, "ask_procedure": "Điều kiện, quy định", "start_dossier": "Tạo hồ sơ nháp"}
# Largest confidence gap between the two best intents that still counts as hesitating.
CHOICE_MAX_GAP = 0.25


def _ask_which(dispatcher: CollectingDispatcher, candidates: list, intent: str, text: str) -> None:
    """A clarifying question: the likely procedures (at most 4), "none of these", and a person."""
    buttons = replies.procedure_buttons(candidates[:MAX_CANDIDATES], intent)
    dispatcher.utter_message(text=text, buttons=buttons + [replies.NONE_OF_THESE_BUTTON, HUMAN_BUTTON])


def faq_entry(tracker: Tracker):
    """The services-FAQ entry the NLU found the latest message to be about, or None."""
    value = (tracker.latest_message or {}).get("faq") if isinstance(tracker.latest_message, dict) else None
    if not isinstance(value, str):
        return None
    from procedures.faq import default_faq

    return next((entry for entry in default_faq() if entry.id == value), None)


def answer_faq(dispatcher: CollectingDispatcher, entry) -> None:
    """The FAQ entry's answer with its source (and a warning when it is not verified)."""
    lines = [entry.answer, "", f"Nguồn: {entry.source.title}" + (f" — {entry.source.url}" if entry.source.url else "") + ".",
             f"Cập nhật ngày {entry.checked_on.strftime('%d/%m/%Y')}."]
    if entry.unverified:
        lines.append("⚠️ Thông tin này chưa được kiểm chứng đầy đủ, bạn nên hỏi lại bộ phận một cửa.")
    dispatcher.utter_message(text=replies.fit("\n".join(lines), "", None).rstrip(),
                             buttons=[replies.button("Hỏi về thủ tục", "show_procedures"), HUMAN_BUTTON])


def understood(tracker: Tracker) -> str:
    """The citizen's words the NLU took for the procedure, as typed (at most 80 characters)."""
    from bot.vntext import fold

    text = latest_text(tracker)
    words = (tracker.latest_message or {}).get("procedure_words") if isinstance(tracker.latest_message, dict) else None
    wanted = set(words.split()) if isinstance(words, str) else set()
    if not wanted:
        return ""
    folded = fold(text)
    if len(folded) == len(text):
        spans = [m.span() for m in re.finditer(r"\w+", folded) if m.group(0) in wanted]
        if spans:
            text = text[spans[0][0]:spans[-1][1]]
    return text[:80].strip()


def candidate_procedures(tracker: Tracker, catalogue) -> list:
    """The procedures the NLU offers when several are close (``procedure_candidates``), validated."""
    latest = tracker.latest_message if isinstance(tracker.latest_message, dict) else {}
    raw = latest.get("procedure_candidates")
    ids = [c.get("id") for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    return [catalogue.get(pid) for pid in dict.fromkeys(ids) if isinstance(pid, str) and pid in catalogue][:MAX_CANDIDATES]


class ActionAnswerProcedure(BaseAction):
    """Answers papers / fee / duration / where / how / general questions about one procedure.

    The procedure: the one the NLU named (the retrieval over the whole catalogue, see
    ``bot.nlu.components``); when several are close, the bot asks which (buttons, "Không phải
    các thủ tục trên", a person); a question about using the online services gets its FAQ
    answer; a follow-up without a procedure is about the one in hand; when nothing matches,
    the bot says what it understood and never answers with another procedure's facts.
    """

    def name(self) -> str:
        return "action_answer_procedure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = latest_intent(tracker)
        intent = intent if intent in ASK_INTENTS else "ask_procedure"
        mention = mentioned_procedures(tracker, self.catalogue)
        current = procedure_slot(tracker, self.catalogue)
        if len(mention.ids) > 1:
            candidates = [self.catalogue.get(pid) for pid in mention.ids]
            _ask_which(dispatcher, candidates, intent, "Bạn đang hỏi về thủ tục nào?")
            return []
        candidates = candidate_procedures(tracker, self.catalogue)
        if mention.ids:
            procedure_id = mention.ids[0]
        elif candidates:
            if current in [p.id for p in candidates]:  # a follow-up about the procedure in hand
                procedure_id = current
            else:
                _ask_which(dispatcher, candidates, intent, "Có nhiều thủ tục gần giống, bạn hỏi về thủ tục nào?")
                return []
        elif (entry := faq_entry(tracker)) is not None and not (current and intent in SPECIFIC_INTENTS):
            answer_faq(dispatcher, entry)  # how the online services work (not a follow-up on papers, fee, …)
            return []
        elif current is not None and not mention.unknown:
            procedure_id = current
        elif mention.unknown or (words := understood(tracker)):
            self._not_found(dispatcher, mention.unknown[0] if mention.unknown else words, intent)
            return []
        else:
            _ask_which(dispatcher, popular_procedures(self.catalogue), intent, "Bạn hỏi về thủ tục nào?")
            return []
        procedure = self.catalogue.get(procedure_id)
        dispatcher.utter_message(text=replies.answer_text(intent, procedure, self.catalogue),
                                 buttons=replies.topic_buttons(procedure, exclude=intent))
        return [SlotSet(PROCEDURE, procedure.id)]

    def _not_found(self, dispatcher: CollectingDispatcher, words: str, intent: str) -> None:
        """Nothing matches well enough: say what was understood, offer to rephrase or a person."""
        wanted = CHOICE_PHRASES.get(intent, CHOICE_PHRASES["ask_procedure"])
        if words:
            text = (f"Mình hiểu bạn muốn biết {wanted} của thủ tục \"{words}\", nhưng mình chưa tìm thấy "
                    "thủ tục nào khớp trong cơ sở dữ liệu thủ tục hành chính.")
        else:
            text = f"Mình hiểu bạn muốn biết {wanted}, nhưng chưa rõ bạn hỏi về thủ tục nào."
        text += ("\nBạn thử viết lại tên thủ tục hoặc việc bạn cần làm, ví dụ: \"làm lại giấy khai sinh bị mất\", "
                 "\"sang tên xe máy\". Hoặc bạn có thể gặp tư vấn viên.")
        buttons = replies.procedure_buttons(popular_procedures(self.catalogue)[:3], intent)
        dispatcher.utter_message(text=text, buttons=buttons + [HUMAN_BUTTON])


class ActionNoneOfThese(BaseAction):
    """The citizen said none of the offered procedures (or the answer) is what they meant."""

    def name(self) -> str:
        return "action_none_of_these"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            text=("Xin lỗi, mình chưa hiểu đúng ý bạn. Bạn thử viết lại tên thủ tục hoặc việc bạn cần làm, "
                  "càng cụ thể càng tốt, ví dụ: \"làm lại giấy khai sinh bị mất\", \"đăng ký xe máy mới mua\". "
                  "Hoặc bạn có thể gặp tư vấn viên."),
            buttons=[replies.button("Xem các thủ tục thường gặp", "show_procedures"), HUMAN_BUTTON])
        return [SlotSet(PROCEDURE, None)]


class ActionShowMenu(BaseAction):
    """Greets or explains what the bot does, then asks "Bạn cần làm gì?" with buttons."""

    INTROS = {"greet": "utter_greet", "bot_capabilities": "utter_capabilities", "out_of_scope": "utter_out_of_scope"}

    def name(self) -> str:
        return "action_show_menu"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = latest_intent(tracker)
        if intent == "out_of_scope" and (entry := faq_entry(tracker)) is not None:
            answer_faq(dispatcher, entry)  # a question about using the online services
            return []
        if intent in self.INTROS:
            dispatcher.utter_message(response=self.INTROS[intent])
        if intent == "show_procedures":
            # The hand-checked, most asked procedures; any other one is found by its name.
            procedures = sorted(self.catalogue.hand_written(), key=lambda p: p.short_name)
            dispatcher.utter_message(
                text=(f"Các thủ tục thường gặp (mình tra cứu được {len(self.catalogue):,} thủ tục trong cơ sở dữ liệu "
                      "quốc gia, bạn cứ gõ tên hoặc việc bạn cần làm):").replace(",", "."),
                buttons=replies.procedure_buttons(procedures))
            return []
        buttons = replies.procedure_buttons(popular_procedures(self.catalogue))
        buttons.append(replies.button("Thủ tục khác", "show_procedures"))
        dispatcher.utter_message(text="Bạn cần làm thủ tục gì?", buttons=buttons)
        return []


class ActionClarify(BaseAction):
    """Asks a clarifying question with buttons instead of guessing."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if consecutive_fallbacks(tracker) >= 2:   # twice not understood: a person takes over
            dispatcher.utter_message(text="Xin lỗi, mình vẫn chưa hiểu ý bạn. Mình chuyển bạn đến tư vấn viên nhé.")
            signal_handover(dispatcher, tracker, self.catalogue, "not_understood")
            return []
        mention = mentioned_procedures(tracker, self.catalogue)
        guess = self._likely_question(tracker)
        if len(mention.ids) == 1:
            procedure = self.catalogue.get(mention.ids[0])
            pair = self._two_likely_intents(tracker)
            if pair is not None:
                dispatcher.utter_message(text=self._choice_question(procedure.short_name, *pair),
                                         buttons=[replies.button(CHOICE_TITLES[i], i, procedure.id) for i in pair])
                return [SlotSet(PROCEDURE, procedure.id)]
            dispatcher.utter_message(text=f"Bạn muốn hỏi gì về {procedure.short_name}?",
                                     buttons=replies.topic_buttons(procedure))
            return [SlotSet(PROCEDURE, procedure.id)]
        if mention.ids:
            candidates = [self.catalogue.get(pid) for pid in mention.ids][:3]
        else:
            candidates = (candidate_procedures(tracker, self.catalogue)
                          or [p for p, _ in self.catalogue.search(latest_text(tracker), limit=3)])
        if candidates:
            _ask_which(dispatcher, candidates, guess, "Mình chưa chắc bạn hỏi về thủ tục nào. Có phải là:")
            return []
        dispatcher.utter_message(response="utter_default")
        buttons = replies.procedure_buttons(popular_procedures(self.catalogue))
        buttons.append(replies.button("Thủ tục khác", "show_procedures"))
        buttons.append(HUMAN_BUTTON)
        dispatcher.utter_message(text="Hoặc chọn thủ tục bạn cần:", buttons=buttons)
        return []

    @staticmethod
    def _choice_question(name: str, first: str, second: str) -> str:
        """The question, e.g. "Về làm hộ chiếu, bạn muốn biết giấy tờ cần chuẩn bị hay cách nộp hồ sơ?"."""
        def option(intent: str) -> str:
            return f"muốn {CHOICE_PHRASES[intent]}" if intent == "start_dossier" else f"muốn biết {CHOICE_PHRASES[intent]}"
        if "start_dossier" not in (first, second):
            return f"Về {name}, bạn muốn biết {CHOICE_PHRASES[first]} hay {CHOICE_PHRASES[second]}?"
        return f"Về {name}, bạn {option(first)} hay {option(second)}?"

    @staticmethod
    def _two_likely_intents(tracker: Tracker) -> tuple[str, str] | None:
        """The two best-ranked intents when both are questions about a procedure (or starting
        its dossier) and close in confidence; otherwise None."""
        ranking = tracker.latest_message.get("intent_ranking") or []
        ranked = [r for r in ranking if isinstance(r, dict) and r.get("name") not in ("nlu_fallback", None)][:2]
        if len(ranked) < 2 or not all(r["name"] in CHOICE_PHRASES for r in ranked):
            return None
        confidences = [r.get("confidence") if isinstance(r.get("confidence"), (int, float)) else 0.0
                       for r in ranked]
        if confidences[0] - confidences[1] > CHOICE_MAX_GAP:
            return None
        return ranked[0]["name"], ranked[1]["name"]

    @staticmethod
    def _likely_question(tracker: Tracker) -> str:
        """The best-ranked question intent, or a general question."""
        for ranked in tracker.latest_message.get("intent_ranking", []):
            if ranked.get("name") in ASK_INTENTS:
                return ranked["name"]
            if ranked.get("name") not in ("nlu_fallback", None):
                break
        return "ask_procedure"

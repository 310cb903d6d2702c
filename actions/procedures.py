"""Actions that answer questions from the procedure catalogue and keep the topic."""

from __future__ import annotations

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
# Full-text score above which a follow-up without a named procedure is taken to point
# elsewhere ("đăng ký xe máy cần gì" right after a question about căn cước).
OTHER_TOPIC_SCORE = 0.9
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
    """A clarifying question: the likely procedures, and a person if none is right."""
    dispatcher.utter_message(text=text, buttons=replies.procedure_buttons(candidates, intent) + [HUMAN_BUTTON])


class ActionAnswerProcedure(BaseAction):
    """Answers papers / fee / duration / where / how / general questions about one procedure."""

    def name(self) -> str:
        return "action_answer_procedure"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = latest_intent(tracker)
        intent = intent if intent in ASK_INTENTS else "ask_procedure"
        mention = mentioned_procedures(tracker, self.catalogue)
        if len(mention.ids) > 1:
            candidates = [self.catalogue.get(pid) for pid in mention.ids]
            _ask_which(dispatcher, candidates, intent, "Bạn đang hỏi về thủ tục nào?")
            return []
        if mention.ids:
            procedure_id = mention.ids[0]
        elif mention.unknown:
            self._unknown(dispatcher, mention.unknown[0], intent)
            return []
        else:
            procedure_id = procedure_slot(tracker, self.catalogue)
            other = self._other_topic(latest_text(tracker), procedure_id)
            if other is not None:  # a follow-up that may be about something else: ask, don't guess
                candidates = [self.catalogue.get(procedure_id), other]
                _ask_which(dispatcher, candidates, intent, "Bạn đang hỏi về thủ tục nào?")
                return []
        procedure = self.catalogue.get(procedure_id) if procedure_id else None
        if procedure is None:
            candidates = [p for p, _ in self.catalogue.search(latest_text(tracker), limit=3)]
            _ask_which(dispatcher, candidates or popular_procedures(self.catalogue), intent,
                       "Bạn hỏi về thủ tục nào?")
            return []
        dispatcher.utter_message(text=replies.answer_text(intent, procedure),
                                 buttons=replies.topic_buttons(procedure, exclude=intent))
        return [SlotSet(PROCEDURE, procedure.id)]

    def _other_topic(self, text: str, current: str | None):
        """A different procedure the text strongly points to, when we would answer for ``current``."""
        if current not in self.catalogue:
            return None
        found = self.catalogue.search(text, limit=3)
        if found and found[0][1] >= OTHER_TOPIC_SCORE and current not in [p.id for p, _ in found]:
            return found[0][0]
        return None

    def _unknown(self, dispatcher: CollectingDispatcher, words: str, intent: str) -> None:
        candidates = [p for p, _ in self.catalogue.search(words, limit=3)]
        text = (f"Mình chưa có thông tin về thủ tục \"{words}\". "
                "Bạn có thể hỏi tại bộ phận một cửa UBND xã/phường hoặc Trung tâm Phục vụ hành chính công.")
        if candidates:
            text += "\nCó phải bạn muốn hỏi một trong các thủ tục sau?"
        else:
            text += "\nCác thủ tục mình đang hỗ trợ:"
            candidates = popular_procedures(self.catalogue)
        _ask_which(dispatcher, candidates, intent, text)


class ActionShowMenu(BaseAction):
    """Greets or explains what the bot does, then asks "Bạn cần làm gì?" with buttons."""

    INTROS = {"greet": "utter_greet", "bot_capabilities": "utter_capabilities", "out_of_scope": "utter_out_of_scope"}

    def name(self) -> str:
        return "action_show_menu"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = latest_intent(tracker)
        if intent in self.INTROS:
            dispatcher.utter_message(response=self.INTROS[intent])
        if intent == "show_procedures":
            procedures = sorted(self.catalogue.all(), key=lambda p: p.short_name)
            dispatcher.utter_message(text="Các thủ tục mình đang hỗ trợ:",
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
            candidates = [p for p, _ in self.catalogue.search(latest_text(tracker), limit=3)]
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

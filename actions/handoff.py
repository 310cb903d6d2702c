"""Asking for a person. The queue, the volunteers and the call-backs live in the bot app
(``bot/handover``): an action only signals, with a custom reply the app acts on and never shows::

    {"handover": {"reason": "asked" | "not_understood" | "dossier", "procedure": <id or null>}}

The app answers in its place (the citizen's place in the queue, or the call-back offer).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import HUMAN_BUTTON, BaseAction, procedure_slot

__all__ = ["HUMAN_BUTTON", "ActionRequestHuman", "consecutive_fallbacks", "signal_handover"]


def signal_handover(dispatcher: CollectingDispatcher, tracker: Tracker, catalogue, reason: str) -> None:
    """Ask the app to hand this conversation to a volunteer."""
    dispatcher.utter_message(json_message={"handover": {"reason": reason,
                                                        "procedure": procedure_slot(tracker, catalogue)}})


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the latest user messages in a row the NLU did not understand."""
    count = 0
    events = tracker.events if isinstance(tracker.events, list) else []
    for event in reversed(events):
        if not (isinstance(event, dict) and event.get("event") == "user"):
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count


class ActionRequestHuman(BaseAction):
    """The citizen asks for a person: the app queues the chat (or offers a call-back)."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        signal_handover(dispatcher, tracker, self.catalogue, "asked")
        return []

"""Helpers shared by the actions: the catalogue and the procedure named in a turn."""

from __future__ import annotations

import abc
import functools
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any, Optional

from rasa_sdk import Action, Tracker

from bot.textinput import normalise_input
from procedures import default_catalogue

log = logging.getLogger(__name__)
PROCEDURE = "procedure"
POPULAR = ["ho-chieu", "can-cuoc", "khai-sinh", "tam-tru", "thuong-tru", "ket-hon"]
ACTION_ERROR = ("Xin lỗi, mình gặp trục trặc khi trả lời câu này. Bạn thử hỏi lại theo cách khác, ví dụ: "
                "\"làm hộ chiếu cần giấy tờ gì\", hoặc nhắn \"gặp tư vấn viên\".")


# Offered with clarifying questions and after failures; the app queues the chat for a volunteer.
HUMAN_BUTTON = {"title": "Gặp tư vấn viên", "payload": "/request_human"}


def _answer_politely_on_error(run):
    """Wrap an action's ``run``: an exception becomes a polite answer (and a log line with the
    action name and exception type only), never an error inside Rasa."""

    @functools.wraps(run)
    async def guarded(self, dispatcher, tracker, domain):
        before = len(dispatcher.messages)
        try:
            return await run(self, dispatcher, tracker, domain)
        except Exception as error:  # noqa: BLE001 — the citizen gets an answer whatever happened
            # Type and place only: an exception's message could quote what the citizen typed.
            frames = traceback.extract_tb(error.__traceback__)
            where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
            log.error("action %s failed: %s at %s", self.name(), type(error).__name__, where)
            del dispatcher.messages[before:]
            dispatcher.utter_message(text=ACTION_ERROR, buttons=[HUMAN_BUTTON])
            return []

    return guarded


class BaseAction(Action, abc.ABC):
    """Base for our actions; ``name()`` stays abstract so rasa-sdk skips this class.

    Every subclass's ``run`` is wrapped so that an exception becomes ``ACTION_ERROR``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run = _answer_politely_on_error(cls.__dict__["run"])

    @abc.abstractmethod
    def name(self) -> str: ...

    @property
    def catalogue(self):
        return default_catalogue()


@dataclass
class ProcedureMention:
    """What the latest message says about procedures."""

    ids: list[str] = field(default_factory=list)  # catalogue ids, in order
    unknown: list[str] = field(default_factory=list)  # words naming a procedure we don't have


def mentioned_procedures(tracker: Tracker, catalogue) -> ProcedureMention:
    """Procedures named in the latest message. Entity values of any other type than str (a
    forged ``/intent{"procedure": {...}}``) are ignored."""
    mention = ProcedureMention()
    entities = _latest(tracker).get("entities") or []
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or entity.get("entity") != PROCEDURE:
            continue
        value, text = entity.get("value"), entity.get("text")
        if isinstance(value, str) and value in catalogue:
            if value not in mention.ids:
                mention.ids.append(value)
        elif isinstance(text, str) and text.strip():
            mention.unknown.append(text[:100])
    return mention


def procedure_slot(tracker: Tracker, catalogue) -> str | None:
    """The ``procedure`` slot if it holds a known catalogue id (a forged value of another type is ignored)."""
    value = slot_str(tracker, PROCEDURE)
    return value if value in catalogue else None


# --- reading a tracker that may be forged or old: every value is type-checked -----------------

def _latest(tracker: Tracker) -> dict:
    return tracker.latest_message if isinstance(tracker.latest_message, dict) else {}


def user_event(tracker: Tracker) -> dict:
    """The latest user event (a dict), or {}."""
    events = tracker.events if isinstance(tracker.events, list) else []
    for event in reversed(events):
        if isinstance(event, dict) and event.get("event") == "user":
            return event
    return {}


def intent_and_confidence(tracker: Tracker) -> tuple[str, float]:
    intent = _latest(tracker).get("intent")
    if not isinstance(intent, dict):
        return "", 0.0
    name, confidence = intent.get("name"), intent.get("confidence")
    return (name if isinstance(name, str) else "",
            float(confidence) if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) else 0.0)


def latest_intent(tracker: Tracker) -> str:
    return intent_and_confidence(tracker)[0]


def latest_text(tracker: Tracker) -> str:
    """What the citizen typed, as typed (normalised with ``normalise_input``); "" if not text.

    ``latest_message["text"]`` is the NLU's normalised text (lower case, "hs" → "hồ sơ",
    "a" → "anh"), fine for matching but wrong for a name or a dossier code; the user
    event keeps the original.
    """
    text = user_event(tracker).get("text")
    if not isinstance(text, str):
        text = _latest(tracker).get("text")
    return normalise_input(text) if isinstance(text, str) else ""


def message_id(tracker: Tracker) -> Optional[int]:
    """The bot app's id of the latest message (user event ``metadata.message_id``), or ``None``."""
    metadata = user_event(tracker).get("metadata")
    value = metadata.get("message_id") if isinstance(metadata, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def slot_str(tracker: Tracker, name: str) -> Optional[str]:
    """A slot's value if it is a non-empty str (a forged value of another type is ignored)."""
    value = tracker.get_slot(name) if isinstance(tracker.slots, dict) else None
    return value if isinstance(value, str) and value else None


def popular_procedures(catalogue) -> list[Any]:
    return [catalogue.get(pid) for pid in POPULAR if pid in catalogue]

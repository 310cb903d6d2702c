"""Helpers shared by the actions: the catalogue and the procedure named in a turn."""

from __future__ import annotations

import abc
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker

from procedures import default_catalogue

log = logging.getLogger(__name__)
PROCEDURE = "procedure"
POPULAR = ["ho-chieu", "can-cuoc", "khai-sinh", "tam-tru", "thuong-tru", "ket-hon"]
ACTION_ERROR = ("Xin lỗi, mình gặp trục trặc khi trả lời câu này. Bạn thử hỏi lại theo cách khác, ví dụ: "
                "\"làm hộ chiếu cần giấy tờ gì\", hoặc nhắn \"gặp tư vấn viên\".")


def _answer_politely_on_error(run):
    """Wrap an action's ``run``: an exception becomes a polite answer (and a log line with the
    action name and exception type only), never an error inside Rasa."""

    @functools.wraps(run)
    async def guarded(self, dispatcher, tracker, domain):
        try:
            return await run(self, dispatcher, tracker, domain)
        except Exception as error:  # noqa: BLE001 — the citizen gets an answer whatever happened
            log.error("action %s failed: %s", self.name(), type(error).__name__)
            dispatcher.messages.clear()
            dispatcher.utter_message(text=ACTION_ERROR)
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
    entities = tracker.latest_message.get("entities") or []
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
    value = tracker.get_slot(PROCEDURE)
    return value if isinstance(value, str) and value in catalogue else None


def latest_intent(tracker: Tracker) -> str:
    intent = tracker.latest_message.get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    return name if isinstance(name, str) else ""


def latest_text(tracker: Tracker) -> str:
    """What the citizen typed, as typed.

    ``latest_message["text"]`` is the NLU's normalised text (lower case, "hs" → "hồ sơ",
    "a" → "anh"), fine for matching but wrong for a name or a dossier code; the user
    event keeps the original.
    """
    for event in reversed(tracker.events or []):
        if isinstance(event, dict) and event.get("event") == "user":
            text = event.get("text")
            return text if isinstance(text, str) else ""
    text = tracker.latest_message.get("text")
    return text if isinstance(text, str) else ""


def popular_procedures(catalogue) -> list[Any]:
    return [catalogue.get(pid) for pid in POPULAR if pid in catalogue]

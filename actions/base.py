"""Helpers shared by the actions: the catalogue and the procedure named in a turn."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker

from procedures import default_catalogue

PROCEDURE = "procedure"
POPULAR = ["ho-chieu", "can-cuoc", "khai-sinh", "tam-tru", "thuong-tru", "ket-hon"]


class BaseAction(Action, abc.ABC):
    """Base for our actions; ``name()`` stays abstract so rasa-sdk skips this class."""

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
    mention = ProcedureMention()
    for entity in tracker.latest_message.get("entities", []):
        if entity.get("entity") != PROCEDURE:
            continue
        value = entity.get("value")
        if value in catalogue:
            if value not in mention.ids:
                mention.ids.append(value)
        elif entity.get("text"):
            mention.unknown.append(entity["text"])
    return mention


def latest_intent(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def latest_text(tracker: Tracker) -> str:
    """What the citizen typed, as typed.

    ``latest_message["text"]`` is the NLU's normalised text (lower case, "hs" → "hồ sơ",
    "a" → "anh"), fine for matching but wrong for a name or a dossier code; the user
    event keeps the original.
    """
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            return event.get("text") or ""
    return tracker.latest_message.get("text") or ""


def popular_procedures(catalogue) -> list[Any]:
    return [catalogue.get(pid) for pid in POPULAR if pid in catalogue]

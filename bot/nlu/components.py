"""Custom Rasa graph components used in config.yml.

- ``TextNormalizer`` runs first: it rewrites the message text with ``bot.vntext.normalize``
  (NFC, one tone placement, lower case, teencode expanded). For training examples it
  normalises the text between and inside annotated entities separately, so entity
  offsets stay right.
- ``ProcedureMatcher`` runs after DIET: it turns every ``procedure`` entity into a
  catalogue id. Alias matches from the catalogue win; words DIET tagged are resolved
  exactly or fuzzily; a DIET span that names no catalogue procedure is kept with
  ``value: null`` and the original words in ``text`` so the bot can say it has no
  information on that procedure. A procedure named only as a condition of another one
  ("chưa có hộ khẩu ở đây thì có xin giấy phép xây dựng được không") is not the topic:
  it is moved out of the entities to the message's ``procedure_conditions``, and so is a procedure
  named as a paper or a place of another one's dossier ("làm căn cước thì mang theo giấy khai sinh
  hả", "phải về nơi thường trú": ``paper_spans``).

  The procedure itself is then decided by the retrieval over the whole catalogue
  (``procedures.retrieval``: the hand-written records and the ~2,600 imported from the
  national database, no retraining when they change) for the intents that ask about a
  procedure (all but the dialogue-control ones, ``NO_RETRIEVAL_INTENTS``, and out of scope, which keep
  a name found only where the retrieval agrees): the names found above count as evidence. The message
  gets ``procedure_candidates`` (the procedures to offer as buttons when several are close,
  ``[{"id", "code", "name", "score"}]``), ``procedure_words`` (what was understood, for
  "nothing found") and ``faq`` (the id of a services-FAQ entry the question is about).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.matching import ProcedureIndex, default_index
from bot.vntext import fold, normalize

PROCEDURE = "procedure"
CONDITIONS = "procedure_conditions"
CANDIDATES = "procedure_candidates"
WORDS = "procedure_words"
FAQ = "faq"
# Intents of dialogue control, which look no procedure up: the names found word for word are kept only
# where the retrieval would answer that same procedure (``ProcedureMatcher.confirmed``), no candidates:
# a greeting, a thank-you, yes/no, a dossier status, the menu, asking for a person ("tổ hỗ trợ
# của phường" names the ward's support team, not a procedure about wards).
NO_RETRIEVAL_INTENTS = frozenset({"greet", "thank", "goodbye", "affirm", "deny", "check_status",
                                  "bot_capabilities", "show_procedures", "none_of_these", "request_human"})
# Words around a procedure that make it a condition of another one: "chưa có X thì …",
# "không có X thì …", "X hết hạn thì …" (matched on folded text, whole words).
_CONDITION_BEFORE = re.compile(r"(?<!\w)(chua|khong|ko|thieu|mat|bi mat)(?!\w)")
_CONDITION_AROUND = re.compile(r"(?<!\w)(het han|qua han|bi mat|bi hong|bi rach)(?!\w)")
_THEN = re.compile(r"(?<!\w)thi(?!\w)")
_WORD = re.compile(r"\w+")
_CONDITION_WINDOW = 3  # words before the procedure that may hold "chưa", "không có", …


def condition_spans(text: str, entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The procedure entities named only as a condition of another procedure in ``text``.

    A procedure is a condition when a negation or loss ("chưa", "không có", "mất", "hết hạn")
    stands right before it or between it and a following "thì", and another procedure, not
    itself a condition, is named in the same message. With no such other procedure nothing is
    a condition (the message is then about that procedure).
    """
    folded = fold(text)
    named = [e for e in entities if e.get("value")]
    if len({e["value"] for e in named}) < 2:
        return []
    conditions = []
    for entity in named:
        then = _THEN.search(folded, entity["end"])
        if then is None:
            continue
        before = [m.group(0) for m in _WORD.finditer(folded[:entity["start"]])][-_CONDITION_WINDOW:]
        before += _WORD.findall(folded[entity["start"]:entity["end"]])[:1]  # the alias "mất căn cước"
        around = folded[entity["start"]:then.start()]
        if _CONDITION_BEFORE.search(" ".join(before)) or _CONDITION_AROUND.search(around):
            conditions.append(entity)
    goals = {e["value"] for e in named if e not in conditions}
    return [e for e in conditions if e["value"] not in goals] if goals else []


# Words right before a procedure's name that make it a paper or a place of another procedure's
# dossier: "mang theo giấy khai sinh", "phải có giấy xác nhận độc thân", "có cần bản sao giấy khai
# sinh", "đem căn cước với sổ hộ khẩu", "về nơi thường trú" (folded, at the end of the words before).
_PAPER_BEFORE = re.compile(r"(?<!\w)(mang|dem|cam|nop|kem|xuat trinh|can|phai co|ban sao|ban chinh|photo|noi)"
                           r"(?: theo)?(?: ca)?$")
_PAPER_JOIN = re.compile(r"^\s*(?:,|va|voi|hoac|hay)\s*$")


def paper_spans(text: str, entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The procedure entities named only as a paper (or a place) of another procedure in ``text``.

    A procedure is a paper when the words right before it say so ("mang", "phải có", "có cần", "bản
    sao", "nơi"), or when it follows a paper with only "và"/"với"/"," between; and another procedure,
    not itself a paper, is named in the same message ("giấy độc thân có cần đem căn cước với sổ hộ
    khẩu không" is about the certificate of marital status). With no such other procedure, nothing is.
    """
    folded = fold(text)
    named = sorted((e for e in entities if e.get("value")), key=lambda e: e["start"])
    if len({e["value"] for e in named}) < 2:
        return []
    papers: List[Dict[str, Any]] = []
    for i, entity in enumerate(named):
        before = " ".join(_WORD.findall(folded[:entity["start"]])[-3:])
        previous = named[i - 1] if i else None
        if _PAPER_BEFORE.search(before) or (previous in papers and _PAPER_JOIN.match(
                folded[previous["end"]:entity["start"]])):
            papers.append(entity)
    goals = {e["value"] for e in named if e not in papers}
    return [e for e in papers if e["value"] not in goals] if goals else []


def _span(text: str, words: str) -> tuple[int, int]:
    """The span of ``text`` from the first to the last of the (folded) ``words`` found in it, or all of it."""
    folded = fold(text)
    found = [m for m in _WORD.finditer(folded) if m.group(0) in set(words.split())]
    if not found:
        return 0, len(text)
    return found[0].start(), found[-1].end()


def normalize_example(text: str, entities: List[Dict[str, Any]]) -> tuple[str, List[Dict[str, Any]]]:
    """Normalise ``text`` piecewise so that each entity's start/end follow its words."""
    out, new_entities, cursor = "", [], 0
    for ent in sorted(entities, key=lambda e: e["start"]):
        out += normalize(text[cursor:ent["start"]])
        out = out + " " if out else out
        value = normalize(text[ent["start"]:ent["end"]])
        new_entities.append({**ent, "start": len(out), "end": len(out) + len(value)})
        out += value + " "
        cursor = ent["end"]
    out += normalize(text[cursor:])
    return out.strip(), new_entities


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    """Normalises Vietnamese chat text before tokenisation."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TextNormalizer":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            if message.get(TEXT):
                text, entities = normalize_example(message.get(TEXT), message.get(ENTITIES) or [])
                message.set(TEXT, text)
                if entities:
                    message.set(ENTITIES, entities)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if message.get(TEXT):
                message.set(TEXT, normalize(message.get(TEXT)))
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ProcedureMatcher(GraphComponent, EntityExtractorMixin):
    """Resolves the ``procedure`` entity to catalogue ids."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"fuzzy": True, "retrieval": True}

    def __init__(self, config: Dict[Text, Any], index: Optional[ProcedureIndex] = None, retriever=None) -> None:
        self._config = config
        self._index = index
        self._retriever = retriever
        self._typos: set = set()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ProcedureMatcher":
        return cls(config)

    @property
    def index(self) -> ProcedureIndex:
        if self._index is None:
            self._index = default_index()
        return self._index

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            others = [e for e in message.get(ENTITIES, []) if e.get("entity") != PROCEDURE]
            model_spans = [e for e in message.get(ENTITIES, []) if e.get("entity") == PROCEDURE]
            procedures = self.procedure_entities(text, model_spans)
            conditions = condition_spans(text, procedures)
            conditions += [e for e in paper_spans(text, procedures) if e not in conditions]
            if conditions:
                procedures = [e for e in procedures if e not in conditions]
                message.set(CONDITIONS, conditions, add_to_output=True)
            intent = (message.get(INTENT) or {}).get("name")
            candidates: List[Dict[str, Any]] = []
            if self._config.get("retrieval", True):
                searched = text
                for e in conditions:  # a condition is not the topic: its words are not searched
                    searched = searched[:e["start"]] + " " * (e["end"] - e["start"]) + searched[e["end"]:]
                if intent not in NO_RETRIEVAL_INTENTS:
                    procedures, candidates = self.retrieve(searched, procedures, message,
                                                           allow_procedure=intent != "out_of_scope")
                elif any(e.get("value") for e in procedures):
                    procedures = self.confirmed(procedures, self.retriever.find(searched, *self.evidence(procedures)))
            message.set(CANDIDATES, candidates, add_to_output=True)
            message.set(ENTITIES, others + procedures, add_to_output=True)
        return messages

    def retrieve(self, text: str, procedures: List[Dict[str, Any]], message: Message,
                 allow_procedure: bool = True) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """The procedure entities and the candidates after the retrieval over the whole catalogue."""
        named, typos = self.evidence(procedures)
        resolution = self.retriever.find(text, named, typos)
        message.set(WORDS, resolution.words, add_to_output=True)
        if resolution.faq is not None:
            message.set(FAQ, resolution.faq.id, add_to_output=True)
        if not allow_procedure:  # out of scope: only the FAQ and the names the retrieval confirms
            return self.confirmed(procedures, resolution), []
        unresolved = [e for e in procedures if not e.get("value")]
        if resolution.procedure is not None:
            pid = resolution.procedure.id
            kept = [e for e in procedures if e.get("value") == pid][:1]
            if not kept:
                start, end = _span(text, resolution.words)
                kept = [self._entity(pid, start, end, text[start:end], "Retrieval", 1.0)]
            return kept, []
        if resolution.candidates:
            return [], [c.as_json() for c in resolution.candidates]
        if named or typos:  # names were found but the retrieval points elsewhere weakly: nothing sure
            return [], []
        return unresolved, []

    def evidence(self, procedures: List[Dict[str, Any]]) -> tuple[Dict[str, int], Dict[str, str]]:
        """The procedures named (id -> words of the name found) and found only with a typo (id -> words)."""
        named: Dict[str, int] = {}
        typos: Dict[str, str] = {}
        for e in procedures:
            if not e.get("value"):
                continue
            if (e["start"], e["end"]) in self._typos:
                typos.setdefault(e["value"], e.get("text") or "")
            else:  # the words of the alias found (a model's span may hold more words than the name)
                found = [m for m in self.index.find(e.get("text") or "") if m.procedure_id == e["value"]]
                words = max((len(m.text.split()) for m in found), default=len(_WORD.findall(e.get("text") or "")))
                named[e["value"]] = max(named.get(e["value"], 0), words)
        return named, typos

    @staticmethod
    def confirmed(procedures: List[Dict[str, Any]], resolution) -> List[Dict[str, Any]]:
        """For the intents that do not look a procedure up (a status check, out of scope, asking for a
        person): the names found, only where the retrieval would answer that same procedure. "Ghi vào
        sổ hộ tịch … giấy khai sinh của Đức" names *giấy khai sinh* but is about another record, and
        a status check or a handover must not carry the birth registration as its topic."""
        chosen = resolution.procedure.id if resolution.procedure is not None else None
        return [e for e in procedures if not e.get("value") or e["value"] == chosen]

    @property
    def retriever(self):
        if self._retriever is None:
            from procedures import default_catalogue

            self._retriever = default_catalogue().retriever
        return self._retriever

    def procedure_entities(self, text: str, model_spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Catalogue matches plus resolved (or unresolved) model spans, without overlaps."""
        self._typos = set()  # spans of names found only with a typo (for the retrieval)
        matches = self.index.find(text)
        if not matches and self._config.get("fuzzy", True):
            matches = self.index.find_fuzzy(text)
            self._typos = {(m.start, m.end) for m in matches}
        entities = [self._entity(m.procedure_id, m.start, m.end, text[m.start:m.end], "ProcedureMatcher", m.score)
                    for m in matches]
        for span in model_spans:
            if any(e["start"] < span["end"] and span["start"] < e["end"] for e in entities):
                continue
            words = text[span["start"]:span["end"]]
            exact = self.index.resolve_exact(words)
            entity = self._entity(exact or self.index.resolve(words), span["start"], span["end"], words,
                                  span.get("extractor", "DIETClassifier"), span.get("confidence_entity", 0.0))
            if exact is None and entity["value"]:
                self._typos.add((entity["start"], entity["end"]))
            entities.append(entity)
        return sorted(entities, key=lambda e: e["start"])

    @staticmethod
    def _entity(value: Optional[str], start: int, end: int, words: str, extractor: str,
                confidence: float) -> Dict[str, Any]:
        return {"entity": PROCEDURE, "value": value, "start": start, "end": end, "text": words,
                "confidence_entity": confidence, "extractor": extractor}

"""``python -m bot parse``: NLU results for lines of text, one JSON object per line.

Reads UTF-8 lines on stdin, loads the current model once, prints
``{"text", "intent", "confidence", "procedure", "procedure_code", "candidates", "entities",
"fallback"}`` for each line. When the model is unsure (``fallback: true``, the bot would ask a
clarifying question), ``intent`` is still its best guess.

``procedure`` is the catalogue id of the procedure the bot would answer for and
``procedure_code`` its national code (null when none); ``candidates``
(``[{"id", "code", "name", "score"}]``) are the procedures it would offer as buttons when it
asks which one, empty when it is sure or found nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path


def procedure_of(entities: list[dict]) -> str | None:
    """The first procedure entity resolved to a catalogue id."""
    return next((e["value"] for e in entities if e.get("entity") == "procedure" and e.get("value")), None)


def result(text: str, parsed: dict) -> dict:
    intent = parsed.get("intent") or {}
    fallback = intent.get("name") == "nlu_fallback"
    if fallback:  # report the model's best guess, with its confidence
        ranking = [r for r in parsed.get("intent_ranking", []) if r.get("name") != "nlu_fallback"]
        intent = ranking[0] if ranking else intent
    entities = [{k: e.get(k) for k in ("entity", "value", "text", "start", "end", "extractor")}
                for e in parsed.get("entities", [])]
    procedure = procedure_of(entities)
    candidates = [{k: c.get(k) for k in ("id", "code", "name", "score")}
                  for c in parsed.get("procedure_candidates") or [] if isinstance(c, dict)]
    return {"text": text, "intent": intent.get("name"), "confidence": round(float(intent.get("confidence") or 0), 4),
            "procedure": procedure, "procedure_code": national_code(procedure), "candidates": candidates,
            "entities": entities, "fallback": fallback}


def national_code(procedure_id: str | None) -> str | None:
    from procedures import default_catalogue

    return default_catalogue().national_code(procedure_id) if procedure_id else None


class Parser:
    """The trained NLU model, loaded once."""

    def __init__(self, model: Path):
        os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("rasa").setLevel(logging.ERROR)
        from rasa.core.agent import Agent
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.ERROR)  # Rasa's debug lines would otherwise go to stdout

        self.agent = Agent.load(str(model))
        self.loop = asyncio.new_event_loop()

    def parse(self, text: str) -> dict:
        return result(text, self.loop.run_until_complete(self.agent.parse_message(text)))


def main(model: Path, lines=sys.stdin, out=sys.stdout) -> None:
    parser = Parser(model)
    for line in lines:
        text = line.rstrip("\n")
        if not text.strip():
            continue
        out.write(json.dumps(parser.parse(text), ensure_ascii=False) + "\n")
        out.flush()

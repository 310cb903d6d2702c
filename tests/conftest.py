"""Shared fixtures: the running stack (Rasa + actions + bot app) and action-test helpers."""

from __future__ import annotations

import os

import pytest

from bot.processes import free_port

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def stack_settings(data_dir, **overrides):
    from dataclasses import replace

    from bot import settings

    config = replace(settings.load(), port=free_port(), rasa_port=free_port(), actions_port=free_port(),
                     data_dir=data_dir, **overrides)
    return config


@pytest.fixture(scope="session")
def model_path():
    """The trained model (trained once per run; `make test` trains it before pytest)."""
    from bot.training import build_model

    return build_model()


@pytest.fixture(scope="session")
def stack(model_path, tmp_path_factory):
    """All three processes on free loopback ports, with fresh databases, shared by the session."""
    from bot.processes import Stack

    with Stack(stack_settings(tmp_path_factory.mktemp("stack"), model=model_path)) as running:
        running.start()
        yield running


@pytest.fixture(scope="session")
def domain():
    from rasa_sdk.interfaces import Tracker  # noqa: F401  (import check)
    import yaml

    from bot.settings import ROOT

    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def make_tracker(intent: str, text: str = "", entities: list | None = None, slots: dict | None = None,
                 confidence: float = 0.95, ranking: list | None = None):
    """A rasa_sdk Tracker whose latest message is the given parse result."""
    from rasa_sdk import Tracker

    from bot.vntext import normalize

    latest = {"text": normalize(text), "intent": {"name": intent, "confidence": confidence},
              "entities": entities or [], "intent_ranking": ranking or [{"name": intent, "confidence": confidence}]}
    events = [{"event": "user", "text": text, "parse_data": latest}]
    return Tracker("test-user", slots or {}, latest, events, False, None, {}, "action_listen")

"""Shared fixtures: the running stack (Rasa + actions + bot app), real PostgreSQL and Redis servers,
and action-test helpers."""

from __future__ import annotations

import os

import pytest

from bot.processes import free_port

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def stack_settings(data_dir, **overrides):
    from dataclasses import replace

    from bot import settings

    ports = {"port": free_port(), "rasa_port": free_port(), "actions_port": free_port()}
    config = replace(settings.load(), data_dir=data_dir, **{**ports, **overrides})
    return config


@pytest.fixture(scope="session")
def model_path():
    """The trained model (trained once per run; `make test` trains it before pytest)."""
    from bot.training import build_model

    return build_model()


@pytest.fixture(scope="session")
def platforms():
    """Loopback fakes of the Telegram Bot API and Zalo's OpenAPI/OAuth, for the whole session."""
    from tests.channels.fake_telegram import FakeTelegram
    from tests.channels.fake_zalo import FakeZalo
    from tests.loopback import LoopbackServer

    telegram, zalo = FakeTelegram(), FakeZalo()
    with LoopbackServer(telegram.app, port=free_port()) as tg, LoopbackServer(zalo.app, port=free_port()) as za:
        yield {"telegram": telegram, "telegram_url": f"http://127.0.0.1:{tg.port}",
               "zalo": zalo, "zalo_url": f"http://127.0.0.1:{za.port}"}


TELEGRAM_SECRET = "e2e_webhook-secret"


def platform_env(platforms) -> dict[str, str]:
    """Environment that turns both platform channels on against the fakes."""
    from tests.channels import fake_zalo

    return {
        "TELEGRAM_BOT_TOKEN": platforms["telegram"].token, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TELEGRAM_API_URL": platforms["telegram_url"],
        "ZALO_APP_ID": fake_zalo.APP_ID, "ZALO_APP_SECRET": fake_zalo.APP_SECRET,
        "ZALO_OA_SECRET_KEY": fake_zalo.OA_SECRET_KEY, "ZALO_ACCESS_TOKEN": fake_zalo.FIRST_ACCESS,
        "ZALO_REFRESH_TOKEN": fake_zalo.FIRST_REFRESH, "ZALO_API_URL": platforms["zalo_url"],
        "ZALO_OAUTH_URL": platforms["zalo_url"],
        # every test client is 127.0.0.1: rate limits have their own tests
        "RATE_LIMIT_PER_MINUTE": "0", "CONVERSATION_RATE_PER_MINUTE": "0",
        # volunteers take chats whenever the tests run (office hours have their own tests)
        "OFFICE_HOURS": "always",
    }


@pytest.fixture(scope="session")
def stack(model_path, tmp_path_factory, platforms):
    """All three processes on free loopback ports, with fresh databases, shared by the session;
    Telegram and Zalo are on, talking to the loopback fakes (``platforms``)."""
    from bot.processes import Stack

    with Stack(stack_settings(tmp_path_factory.mktemp("stack"), model=model_path),
               extra_env=platform_env(platforms)) as running:
        running.start()
        running.supervise_in_background()   # a killed child comes back, as under `python -m bot run`
        yield running


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server (fresh cluster, loopback only) for the session: its SQLAlchemy URL
    ``postgresql://bot@127.0.0.1:PORT/bot`` (``tests/servers.py``)."""
    from tests.servers import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis server (loopback, no persistence) for the session: ``redis://127.0.0.1:PORT/0``."""
    from tests.servers import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _close_databases():
    """After each test, the pooled connections of the databases it opened are closed (bot.db keeps one
    Database per URL for the process; hundreds of temporary ones would hold file handles)."""
    yield
    from bot import db

    db.dispose_all()


_app_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def app_database(request, tmp_path):
    """Where a store keeps its data, once per engine: a fresh SQLite file, then a fresh database on
    the session's PostgreSQL server (``bot/db.py`` runs the same SQL on both)."""
    from bot import db

    if request.param == "sqlite":
        target = tmp_path / "bot.db"
    else:
        from tests.servers import create_database

        server = request.getfixturevalue("postgres_url")
        target = create_database(server, f"app_{os.getpid()}_{next(_app_databases)}")
    yield target
    db.forget(target)  # close its connections (the test server allows 50)


@pytest.fixture(scope="session")
def domain():
    import yaml
    from rasa_sdk.interfaces import Tracker  # noqa: F401  (import check)

    from bot.settings import ROOT

    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def nlu_procedures(text: str, intent: str, entities: list | None = None) -> dict:
    """What the NLU's ProcedureMatcher adds to a parse of ``text`` (no model: no DIET spans):
    ``entities``, ``procedure_candidates``, ``procedure_words``, ``faq``, ``procedure_conditions``."""
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.components import ProcedureMatcher
    from bot.vntext import normalize

    message = Message(data={"text": normalize(text), "intent": {"name": intent}, "entities": list(entities or [])})
    ProcedureMatcher({"fuzzy": True, "retrieval": True}).process([message])
    return {key: message.get(key) for key in ("entities", "procedure_candidates", "procedure_words", "faq",
                                              "procedure_conditions")
            if message.get(key) is not None}


def make_tracker(intent: str, text: str = "", entities: list | None = None, slots: dict | None = None,
                 confidence: float = 0.95, ranking: list | None = None, nlu: bool = False):
    """A rasa_sdk Tracker whose latest message is the given parse result.

    ``nlu=True``: the procedure entities, candidates and FAQ entry come from the real
    ProcedureMatcher over ``text`` (``nlu_procedures``) instead of ``entities``."""
    from rasa_sdk import Tracker

    from bot.vntext import normalize

    latest = {"text": normalize(text), "intent": {"name": intent, "confidence": confidence},
              "entities": entities or [], "intent_ranking": ranking or [{"name": intent, "confidence": confidence}]}
    if nlu:
        latest.update(nlu_procedures(text, intent, entities))
    events = [{"event": "user", "text": text, "parse_data": latest}]
    return Tracker("test-user", slots or {}, latest, events, False, None, {}, "action_listen")


@pytest.fixture
def dossier_data(tmp_path, monkeypatch):
    """A fresh BOT_DATA_DIR for actions that open the dossier store and the guess limiter."""
    from actions import dossiers

    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_SECRET", "test-secret-at-least-16-bytes")
    dossiers._store_at.cache_clear()
    dossiers._limiter_at.cache_clear()
    yield tmp_path
    dossiers._store_at.cache_clear()
    dossiers._limiter_at.cache_clear()

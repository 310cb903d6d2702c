"""Several bot app processes on one database: the background loops run in one of them (bot/leases.py)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot import app as app_module
from bot import settings, staff
from bot.app import create_app
from tests.conftest import free_port


@pytest.fixture
def config(app_database, tmp_path):
    database_url = "" if "://" not in str(app_database) else str(app_database)
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), database_url=database_url,
                   secret_override=None)


def test_two_apps_on_one_database_purge_and_retry_in_one_of_them(config, monkeypatch):
    purges, retries = [], []
    monkeypatch.setattr(staff, "purge", lambda cfg, **kw: purges.append(1) or 0)
    monkeypatch.setattr(app_module, "RETRY_EVERY", 0.05)

    async def retry_pending(router):
        retries.append(id(router))
        return 0

    monkeypatch.setattr(app_module.Router, "retry_pending", retry_pending)
    with TestClient(create_app(config)) as first, TestClient(create_app(config)) as second:
        deadline = time.monotonic() + 5
        while len(retries) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        routers = {id(first.app.state.router), id(second.app.state.router)}
        assert len(retries) >= 10 and len(set(retries)) == 1 and set(retries) <= routers
        assert purges == [1]  # the start-up purge ran in the first app only
        holder = first.app.state.leases.holder_of("retry")
        assert holder in (first.app.state.leases.holder, second.app.state.leases.holder)
        first_holder = first.app.state.leases.holder
    # The holder stopped and released its leases: the other takes over at its next round.
    with TestClient(create_app(config)) as third:
        retries.clear()
        deadline = time.monotonic() + 5
        while not retries and time.monotonic() < deadline:
            time.sleep(0.05)
        assert retries == [id(third.app.state.router)] * len(retries) and retries
        assert third.app.state.leases.holder_of("retry") not in (None, first_holder)


def test_with_redis_down_citizens_are_served_and_logins_refused_politely(tmp_path):
    """REDIS_URL set but Redis unreachable: the public routes go on without rate limits (logged), a
    login — whose lock-out cannot be checked — is refused with the Vietnamese error, not a trace."""
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), secret_override="x" * 32,
                     redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        assert client.post("/api/conversations").status_code == 201
        login = client.post("/api/auth/login", json={"username": "lan.nguyen", "password": "x" * 12})
        assert login.status_code == 500 and "thử lại sau" in login.json()["error"]
        assert "Traceback" not in login.text

"""The bot says a message was saved only when it was."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot import settings
from bot.app import create_app
from bot.conversations import BUSY, NOT_SAVED
from tests.conftest import free_port
from tests.webchat import Conversations


@pytest.fixture
def client(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), actions_port=free_port(),
                     rasa_timeout=1.0)
    with TestClient(create_app(config)) as test_client:
        test_client.chats = Conversations(test_client)
        test_client.chats["web-s"]   # issued before any test locks the database
        yield test_client


def say(client, text="lệ phí hộ chiếu"):
    response = client.chats.post("web-s", text=text)
    assert response.status_code == 200
    return response.json()["replies"][0]["text"]


def test_database_locked_is_not_called_saved(client, tmp_path, monkeypatch):
    from bot import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)
    client.app.state.store.db.dispose()              # its next connections wait 200 ms for a lock
    locker = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        reply = say(client)
    finally:
        locker.execute("ROLLBACK")
    assert reply == NOT_SAVED and "đã được lưu" not in reply
    assert say(client) == BUSY                       # lock gone: stored, and Rasa is down → BUSY is true
    assert [m["status"] for m in client.app.state.store.history(client.chats["web-s"]) if m["direction"] == "in"] == ["pending"]


def test_disk_full_is_not_called_saved(client, monkeypatch):
    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(client.app.state.store, "add", full)
    assert say(client) == NOT_SAVED
    assert say(client, "") == NOT_SAVED              # the local answers too

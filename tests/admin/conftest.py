"""Staff tools' fixtures: the bot app in-process (Starlette's TestClient) with real accounts,
cookies and CSRF tokens, and one logged-in client per role."""

from __future__ import annotations

from dataclasses import replace

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from bot import settings
from bot.accounts import AccountStore
from bot.app import create_app
from tests.conftest import free_port

PASSWORD = "Mật khẩu rất dài 2026"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
USERS = {"staff": "thu.canbo", "admin": "quan.tri", "volunteer": "lan.tnv", "supervisor": "binh.gs"}


@pytest.fixture
def admin_config(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), secret_override="test-secret",
                     rate_limit_per_minute=0, conversation_rate_per_minute=0, office_hours="always")
    accounts = AccountStore.from_settings(config, hasher=FAST)
    for role, username in USERS.items():
        accounts.add(username, PASSWORD, role, team="phuong-ben-thanh" if role in ("volunteer", "supervisor") else None)
    accounts.close()
    return config


class Browser:
    """One person's browser on the app: a cookie jar and the CSRF token from the login."""

    def __init__(self, client: TestClient, role: str | None):
        self.client = client
        self.csrf = None
        if role is not None:
            response = client.post("/api/auth/login", json={"username": USERS[role], "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.csrf = response.json()["csrf_token"]

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def send(self, method, path, body=None, csrf=True, headers=None, **kwargs):
        headers = {**({"X-CSRF-Token": self.csrf} if csrf and self.csrf else {}), **(headers or {})}
        return self.client.request(method, path, json=body, headers=headers, **kwargs)

    def post(self, path, body=None, csrf=True):
        return self.send("POST", path, body, csrf)

    def put(self, path, body=None, csrf=True):
        return self.send("PUT", path, body, csrf)


@pytest.fixture
def admin_app(admin_config):
    app = create_app(admin_config)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def login(admin_config):
    """``login("staff")`` → a Browser logged in with that role (a fresh cookie jar each)."""
    clients = []

    def make(role: str | None) -> Browser:
        client = TestClient(create_app(admin_config)).__enter__()
        clients.append(client)
        return Browser(client, role)

    yield make
    for client in clients:
        client.__exit__(None, None, None)

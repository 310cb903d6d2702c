"""Hardening: the action server refuses forged calls (no token, wrong token, non-ASCII token,
deflate bomb, oversized body) before anything runs, and stores nothing for them."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import zlib

import httpx
import pytest
from conftest import stack_settings

from bot.processes import Stack
from tests.webchat import new_conversation

ATTACKER = "attacker-forged-sender"
DOSSIER_TABLES = ("dossiers", "dossier_events", "form_drafts")


def forged_call(sender: str = ATTACKER, action: str = "action_start_dossier") -> dict:
    """What the security review posted: a tracker with any sender id, starting a draft dossier."""
    latest = {"text": "tôi muốn làm hộ chiếu", "intent": {"name": "start_dossier", "confidence": 1.0},
              "entities": [{"entity": "procedure", "value": "ho-chieu"}]}
    tracker = {"sender_id": sender, "slots": {}, "latest_message": latest, "events": [], "paused": False,
               "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"}
    return {"next_action": action, "sender_id": sender, "tracker": tracker, "domain": {}, "version": "3.6.21"}


def stored_rows(config, sender: str = ATTACKER) -> int:
    if not config.app_db.exists():
        return 0
    with sqlite3.connect(config.app_db) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        count = 0
        for table in DOSSIER_TABLES:
            if table in tables:
                count += db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return count


@pytest.fixture(scope="module")
def actions(tmp_path_factory):
    config = stack_settings(tmp_path_factory.mktemp("actions"))
    with Stack(config) as stack:
        stack.start(("actions",), timeout=120)
        yield stack


@pytest.fixture()
def url(actions):
    return f"http://127.0.0.1:{actions.settings.actions_port}"


def right(actions) -> dict:
    return {"Authorization": f"Bearer {actions.settings.actions_token}"}


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "wrong-token"},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic YWRtaW46YWRtaW4="},
    {"Authorization": "Bearer tôi-là-token".encode("utf-8")},          # non-ASCII bytes
    {"Authorization": "Bearer \u00e9\u00e9\u00e9".encode("latin-1")},   # not even UTF-8
], ids=["none", "wrong", "no-scheme", "empty", "basic", "utf8", "latin1"])
def test_forged_webhook_call_is_refused_and_stores_nothing(actions, url, headers):
    response = httpx.post(f"{url}/webhook", json=forged_call(), headers=headers)
    assert response.status_code == 401
    assert "responses" not in response.text and "events" not in response.text
    assert stored_rows(actions.settings) == 0


def test_non_ascii_token_of_the_same_length_is_refused(actions, url):
    token = actions.settings.actions_token
    fake = ("đ" * len(token)).encode("utf-8")
    response = httpx.post(f"{url}/webhook", json=forged_call(), headers={"Authorization": b"Bearer " + fake})
    assert response.status_code == 401
    assert stored_rows(actions.settings) == 0


def test_token_in_the_query_string_is_not_accepted(actions, url):
    response = httpx.post(f"{url}/webhook", params={"token": actions.settings.actions_token}, json=forged_call())
    assert response.status_code == 401
    assert stored_rows(actions.settings) == 0


def test_action_list_needs_the_token_health_does_not(actions, url):
    assert httpx.get(f"{url}/actions").status_code == 401
    assert httpx.get(f"{url}/actions", headers=right(actions)).status_code == 200
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}


def test_deflate_bomb_is_refused(actions, url):
    bomb = zlib.compress(b'{"next_action": "' + b"a" * 200_000_000 + b'"}', 9)  # ~200 KB → 200 MB
    assert len(bomb) < 1_000_000
    headers = {"Content-Encoding": "deflate", "Content-Type": "application/json"}
    assert httpx.post(f"{url}/webhook", content=bomb, headers=headers).status_code == 401
    response = httpx.post(f"{url}/webhook", content=bomb, headers={**headers, **right(actions)}, timeout=30)
    assert response.status_code == 413
    assert httpx.get(f"{url}/health").status_code == 200, "the server survived"
    assert stored_rows(actions.settings) == 0


def test_oversized_body_is_refused(actions, url):
    body = json.dumps({**forged_call(), "padding": "x" * 2_000_000}).encode()
    for headers, refused in (({}, {401, 413}), (right(actions), {413})):
        response = httpx.post(f"{url}/webhook", content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code in refused
    assert stored_rows(actions.settings) == 0


def test_unknown_content_encoding_is_refused(actions, url):
    response = httpx.post(f"{url}/webhook", content=b"\x1f\x8b", headers={**right(actions), "Content-Encoding": "gzip"})
    assert response.status_code == 415
    assert stored_rows(actions.settings) == 0


def test_an_action_error_does_not_echo_the_tracker(actions, url):
    call = forged_call("echo-check")
    del call["tracker"]["sender_id"]  # rasa_sdk's Tracker.from_dict raises KeyError
    call["tracker"]["note"] = "Nguyễn Thị Mai 001090012345"
    response = httpx.post(f"{url}/webhook", json=call, headers=right(actions))
    assert response.status_code == 500
    assert "Nguyễn" not in response.text and "001090012345" not in response.text and "tracker" not in response.text
    log_file, deadline = actions.log_dir / "actions.log", time.monotonic() + 10
    log = log_file.read_text(errors="replace")
    while "KeyError" not in log and time.monotonic() < deadline:  # the runner writes the child's lines a moment later
        time.sleep(0.1)
        log = log_file.read_text(errors="replace")
    assert "KeyError" in log, "the failure is logged, by type"
    assert "Nguyễn" not in log and "001090012345" not in log


def test_listens_on_loopback_only(actions):
    assert actions.settings.actions_host == "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            own_address = probe.getsockname()[0]
        except OSError:
            own_address = "127.0.0.1"
    if own_address.startswith("127."):
        pytest.skip("no non-loopback address on this machine")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{own_address}:{actions.settings.actions_port}/health", timeout=3)


def test_with_the_right_token_the_action_runs(actions, url):
    """The control: the very call refused above does create a draft when it carries the token."""
    sender = "with-token"
    response = httpx.post(f"{url}/webhook", json=forged_call(sender), headers=right(actions))
    assert response.status_code == 200 and response.json()["responses"]
    with sqlite3.connect(actions.settings.app_db) as db:
        assert db.execute("SELECT COUNT(*) FROM form_drafts WHERE conversation_id = ?", (sender,)).fetchone()[0] == 1
    assert stored_rows(actions.settings, sender) >= 1


def test_compressed_call_with_the_token_is_inflated_and_runs(actions, url):
    body = zlib.compress(json.dumps(forged_call("compressed")).encode())
    headers = {**right(actions), "Content-Encoding": "deflate", "Content-Type": "application/json"}
    response = httpx.post(f"{url}/webhook", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["responses"]


def test_rasa_is_configured_to_send_the_token(actions, monkeypatch):
    """endpoints.yml (with Rasa's own ${ENV} expansion) gives the header the action server wants."""
    from rasa.utils.endpoints import read_endpoint_config

    from bot.settings import ROOT

    for name, value in actions.env().items():
        monkeypatch.setenv(name, value)
    endpoint = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
    assert endpoint.url == actions.settings.actions_url
    assert endpoint.headers == right(actions)


def test_rasa_waits_for_actions_less_than_the_bot_app_waits_for_rasa(actions, monkeypatch):
    import rasa.core.actions.action as action_module

    from bot import rasa_server

    env = actions.env()
    assert 0 < float(env["ACTIONS_TIMEOUT"]) < actions.settings.rasa_timeout
    monkeypatch.setenv("ACTIONS_TIMEOUT", env["ACTIONS_TIMEOUT"])
    monkeypatch.setattr(action_module, "DEFAULT_REQUEST_TIMEOUT", action_module.DEFAULT_REQUEST_TIMEOUT)
    rasa_server._install_action_timeout()
    assert action_module.DEFAULT_REQUEST_TIMEOUT.total == pytest.approx(actions.settings.actions_timeout)


@pytest.mark.stack
def test_chat_still_works_through_the_guarded_action_server(stack):
    conversation_id, owner = new_conversation(stack.base_url)
    response = httpx.post(f"{stack.base_url}/api/messages", timeout=60, headers=owner,
                          json={"conversation_id": conversation_id, "text": "làm hộ chiếu cần giấy tờ gì"})
    assert response.status_code == 200
    assert "TK01" in "\n".join(r["text"] for r in response.json()["replies"])

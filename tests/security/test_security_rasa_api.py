"""Hardening: Rasa's HTTP API and its REST channel refuse requests without the token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot import rasa_server


def rasa(stack) -> str:
    return stack.settings.rasa_url


# --- without the running stack ----------------------------------------------------------


def test_api_never_starts_without_a_token(monkeypatch):
    monkeypatch.delenv("RASA_TOKEN", raising=False)
    with pytest.raises(SystemExit):
        rasa_server.prepare_argv(["run", "--enable-api", "-p", "5005"])
    monkeypatch.setenv("RASA_TOKEN", "t0ken")
    argv = rasa_server.prepare_argv(["run", "--enable-api", "-vv", "--debug", "-p", "5005"])
    assert argv[argv.index("--auth-token") + 1] == "t0ken"
    assert "-vv" not in argv and "--debug" not in argv


def test_rest_channel_refuses_everything_without_a_configured_token(monkeypatch):
    from bot.rasa_channel import UnsplitRestInput, header_matches

    monkeypatch.delenv("RASA_TOKEN", raising=False)
    assert UnsplitRestInput.expected_authorization() == b""
    assert not header_matches("Bearer ", b"")
    assert not header_matches(None, b"Bearer x")
    assert not header_matches("Bearer \udcc3\udca9", b"Bearer x")  # what Sanic makes of non-UTF-8 bytes
    assert header_matches("Bearer x", b"Bearer x")


# --- on the running stack ---------------------------------------------------------------

stack_only = pytest.mark.stack


@stack_only
@pytest.mark.parametrize("params", [{}, {"token": "wrong"}, {"token": "đúng-không"}])
def test_tracker_is_not_readable_without_the_token(stack, params):
    response = httpx.get(f"{rasa(stack)}/conversations/sec-victim/tracker", params=params)
    assert response.status_code in (401, 403)
    assert "events" not in response.text


@stack_only
def test_events_cannot_be_injected_nor_the_model_swapped_without_the_token(stack):
    injected = httpx.post(f"{rasa(stack)}/conversations/sec-victim/tracker/events",
                          json={"event": "slot", "name": "procedure", "value": "ho-chieu"})
    assert injected.status_code in (401, 403)
    swapped = httpx.put(f"{rasa(stack)}/model", json={"model_file": "/tmp/evil.tar.gz"})
    assert swapped.status_code in (401, 403)
    assert httpx.get(f"{rasa(stack)}/status").status_code in (401, 403)


@stack_only
def test_the_api_works_with_the_token(stack):
    response = httpx.get(f"{rasa(stack)}/status", params={"token": stack.settings.rasa_token})
    assert response.status_code == 200
    assert httpx.get(f"{rasa(stack)}/").status_code == 200  # the health route stays open


@stack_only
@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer đúng-không".encode("utf-8")},
    {"Authorization": b"Bearer \xff\xfe"},
], ids=["none", "wrong", "empty", "utf8", "junk-bytes"])
def test_rest_channel_refuses_without_the_bearer_token(stack, headers):
    body = {"sender": "sec-rest", "message": "xin chào"}
    response = httpx.post(f"{rasa(stack)}/webhooks/rest/webhook", json=body, headers=headers, timeout=30)
    assert response.status_code == 401
    query = httpx.post(f"{rasa(stack)}/webhooks/rest/webhook", json=body, headers=headers,
                       params={"token": stack.settings.rasa_token}, timeout=30)
    assert query.status_code == 401, "the API token in the query does not open the channel"


@stack_only
def test_rest_channel_answers_with_the_bearer_token(stack):
    response = httpx.post(f"{rasa(stack)}/webhooks/rest/webhook", timeout=60,
                          headers={"Authorization": f"Bearer {stack.settings.rasa_token}"},
                          json={"sender": "sec-rest-ok", "message": "xin chào"})
    assert response.status_code == 200 and response.json()


@stack_only
def test_tokens_are_not_on_any_command_line(stack):
    for name, process in stack.processes.items():
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
        assert stack.settings.rasa_token not in cmdline, name
        assert stack.settings.actions_token not in cmdline, name

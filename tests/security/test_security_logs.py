"""Hardening: no log line of the three processes carries what a citizen wrote, on the error
paths too (a turn failing inside Rasa, the action server down, a payload Rasa cannot parse);
logs rotate and are private."""

from __future__ import annotations


import subprocess
import sys
import textwrap
import unicodedata

import httpx
import pytest

from bot import processes, rasa_server
from bot.settings import ROOT
from tests.webchat import new_conversation

NAME = "Nguyễn Thị Mai"
ID_NUMBER = "001090012345"
PHONE = "0912345678"
SAMPLE = f"{NAME} {ID_NUMBER} {PHONE}"


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)) \
        .replace("đ", "d").replace("Đ", "D")


FORBIDDEN = [NAME, NAME.lower(), fold(NAME), fold(NAME).lower(), "Thị Mai", "thi mai", ID_NUMBER, PHONE,
             "0912 345 678", "001 090 012 345", "Thi Mai"]


def all_logs(stack) -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(stack.log_dir.glob("*.log*")))


def assert_clean(text: str) -> None:
    for secret in FORBIDDEN:
        assert secret not in text, f"{secret!r} is in the logs"


def rest(stack, message: str, sender: str = "sec-logs") -> httpx.Response:
    return httpx.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", timeout=60,
                      headers={"Authorization": f"Bearer {stack.settings.rasa_token}"},
                      json={"sender": sender, "message": message})


# --- in one process, without the stack ------------------------------------------------------


def test_hygiene_keeps_tracebacks_but_not_exception_messages():
    script = textwrap.dedent(f"""
        import logging, sys, warnings
        from bot.processes import install_log_hygiene
        install_log_hygiene()
        logging.basicConfig(stream=sys.stdout, level=logging.INFO)
        log = logging.getLogger("x")
        try:
            try:
                raise ValueError({SAMPLE!r})
            except ValueError as inner:
                raise RuntimeError("while saving " + {SAMPLE!r}) from inner
        except RuntimeError:
            log.exception("turn failed")
        log.info("phone %s", {PHONE!r})
        log.warning({ID_NUMBER!r})
        warnings.warn("Failed to parse arguments in line " + {SAMPLE!r})
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    logged = out.stdout + out.stderr
    assert "ValueError" in logged and "RuntimeError" in logged and "turn failed" in logged
    assert 'File "<string>"' in logged, "frames are kept"
    assert "UserWarning" in logged
    assert_clean(logged)


def test_rasa_structured_events_keep_only_safe_fields():
    event = rasa_server.scrub_event({"event": "rest.message.received.failure", "text": SAMPLE,
                                     "user_text": SAMPLE, "rasa_event": {"text": SAMPLE}, "count": 3,
                                     "event_info": f"for {PHONE}"}, "exception")
    assert event["event"] == "rest.message.received.failure" and event["count"] == 3
    assert event["exc_info"] is False
    assert_clean(repr(event))


def test_parent_masks_numbers_and_rotates(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "LOG_MAX_BYTES", 2000)
    log = processes._ChildLog("child", tmp_path / "child.log")
    child = subprocess.Popen([sys.executable, "-c", f"for i in range(200): print(f'line {{i}}: id={ID_NUMBER}, "
                                                    f"HS-2026-K7Q4MP, 2026-12-02 14:31:39,215')"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log.follow(child.stdout)
    child.wait(30)
    log.close()
    files = sorted(tmp_path.glob("child.log*"))
    assert len(files) == processes.LOG_BACKUPS + 1, "rotated, at most LOG_BACKUPS old files"
    text = "".join(f.read_text() for f in files)
    assert "0010*****345" in text and "HS-2026-K7Q4MP" in text and "2026-12-02 14:31:39,215" in text
    assert_clean(text)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)


def test_rasa_never_runs_at_debug(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    rasa_server._force_info_level()
    import os

    assert os.environ["LOG_LEVEL"] == "INFO"


# --- on the running stack ---------------------------------------------------------------


@pytest.mark.stack
def test_stack_logs_rotate_and_rasa_runs_at_info(stack, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    assert stack.env()["LOG_LEVEL"] == "INFO"
    for name in ("actions", "rasa", "app"):
        handler = stack._logs[name].handler
        assert handler.maxBytes == processes.LOG_MAX_BYTES and handler.backupCount == processes.LOG_BACKUPS
        assert (stack.log_dir / f"{name}.log").exists()


@pytest.mark.stack
def test_failed_turns_leave_no_personal_data_in_the_logs(stack):
    # 1. payloads Rasa cannot parse (Rasa warns with the whole line) and odd entity values
    for message in (f'/ask_fee{{"procedure": {{"a": 1}}, "note": "{SAMPLE}"}}',
                    f'/ask_fee{{"procedure": "{SAMPLE}"',
                    f'/no_such_intent{{"x": "{SAMPLE}"}}'):
        assert rest(stack, message).status_code in (200, 500)
    # 2. an ordinary message, through the bot app and directly
    conversation_id, owner = new_conversation(stack.base_url)
    chat = {"conversation_id": conversation_id, "text": f"tôi là {SAMPLE}"}
    assert httpx.post(f"{stack.base_url}/api/messages", json=chat, headers=owner, timeout=60).status_code == 200
    # 3. the action server down: every action fails inside Rasa
    stack.stop(("actions",))
    try:
        rest(stack, f"tôi muốn làm hộ chiếu, tên {SAMPLE}", sender="sec-logs-down")
        rest(stack, SAMPLE, sender="sec-logs-down")
        conversation_id, owner = new_conversation(stack.base_url)
        httpx.post(f"{stack.base_url}/api/messages", timeout=60, headers=owner,
                   json={"conversation_id": conversation_id, "text": f"hộ chiếu {SAMPLE}"})
    finally:
        stack.start(("actions",))
    logs = all_logs(stack)
    assert "Failed to execute custom action" in logs or "failed" in logs.lower(), "the failure is logged"
    assert_clean(logs)


@pytest.mark.stack
def test_a_turn_that_raises_inside_rasa_logs_its_type_not_its_text(stack):
    """A lone surrogate in the text (valid JSON, not encodable as UTF-8) makes the turn raise
    inside Rasa, where stock RestInput logs the whole text: here only the exception type and
    the conversation id are logged, and the channel answers 500."""
    sender = "sec-logs-raises"
    body = ('{"sender": "%s", "message": "t\\u00f4i l\\u00e0 %s \\udcff"}' % (sender, SAMPLE)).encode()
    response = httpx.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", timeout=60, content=body,
                          headers={"Authorization": f"Bearer {stack.settings.rasa_token}",
                                   "Content-Type": "application/json"})
    assert response.status_code == 500, response.text
    logs = all_logs(stack)
    assert f"(conversation {sender})" in logs
    assert_clean(logs)

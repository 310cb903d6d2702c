"""``python -m bot run`` as an operator meets it: a child killed with -9 comes back; SIGTERM at any
moment, start-up included, stops every child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.processes import free_port
from bot.settings import ROOT

pytestmark = pytest.mark.stack


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (e.g. a unique port)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and entry.name != str(os.getpid()):
                found.append(int(entry.name))
    return found


def start_bot(tmp_path, model_path) -> tuple[subprocess.Popen, dict[str, int]]:
    ports = {"BOT_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "BOT_DATA_DIR": str(tmp_path),
           "BOT_MODEL": str(model_path), "PYTHONPATH": str(ROOT)}
    output = open(tmp_path / "runner.log", "wb")
    bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=output,
                           stderr=subprocess.STDOUT, start_new_session=True)
    return bot, ports


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out: {what}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def children_gone(ports: dict[str, int]) -> bool:
    return not (processes_with(f"-p {ports['RASA_PORT']}") or processes_with(f"--port {ports['BOT_PORT']}"))


def test_sigterm_during_start_up_stops_every_child(tmp_path, model_path):
    bot, ports = start_bot(tmp_path, model_path)
    try:
        wait_until(lambda: processes_with(f"-p {ports['RASA_PORT']}"), 120, "Rasa started")
        bot.send_signal(signal.SIGTERM)                     # Rasa is still loading its model
        assert bot.wait(timeout=60) is not None
        wait_until(lambda: children_gone(ports), 30, "children stopped")
    finally:
        if bot.poll() is None:
            os.killpg(bot.pid, signal.SIGKILL)


def test_rasa_killed_with_minus_9_comes_back(tmp_path, model_path):
    bot, ports = start_bot(tmp_path, model_path)
    app = f"http://127.0.0.1:{ports['BOT_PORT']}/healthz"
    try:
        wait_until(lambda: "Trợ lý đã sẵn sàng" in (tmp_path / "runner.log").read_text(), 300, "the bot ready")
        [rasa] = processes_with(f"-p {ports['RASA_PORT']}")
        os.kill(rasa, signal.SIGKILL)
        wait_until(lambda: not httpx.get(app).json()["rasa"], 30, "Rasa down")
        assert answers(app)                                  # the app keeps answering meanwhile
        wait_until(lambda: httpx.get(app).json()["rasa"], 300, "Rasa restarted")
        assert processes_with(f"-p {ports['RASA_PORT']}") != [rasa]
        assert bot.poll() is None                            # the runner did not stop everything
        assert "rasa exited" in (tmp_path / "runner.log").read_text()
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=60)
    wait_until(lambda: children_gone(ports), 30, "children stopped")

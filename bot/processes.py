"""Start and stop the three processes together: Rasa server, action server, bot app.

Used by ``python -m bot run`` and by the end-to-end tests. Each process logs to
``<data dir>/logs/<name>.log``. Ports and paths come from ``bot.settings``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

from bot.settings import ROOT, Settings


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StackError(RuntimeError):
    """A process died or did not become ready in time."""


@dataclass
class Stack:
    settings: Settings
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(ROOT),
            "BOT_PORT": str(s.port),
            "BOT_HOST": s.host,
            "RASA_PORT": str(s.rasa_port),
            "ACTIONS_PORT": str(s.actions_port),
            "BOT_DATA_DIR": str(s.data_dir),
            "BOT_MODEL": str(s.model),
            "RASA_TRACKER_DB": str(s.tracker_db),
        }

    def commands(self) -> dict[str, list[str]]:
        s, py = self.settings, sys.executable
        return {
            "actions": [py, "-m", "rasa_sdk", "--actions", "actions", "-p", str(s.actions_port), "--quiet"],
            "rasa": [py, "-m", "bot.rasa_server", "run", "--enable-api", "-i", "127.0.0.1", "-p", str(s.rasa_port),
                     "--model", str(s.model), "--endpoints", str(ROOT / "endpoints.yml"),
                     "--credentials", str(ROOT / "credentials.yml")],
            "app": [py, "-m", "uvicorn", "bot.app:create_app", "--factory", "--host", s.host,
                    "--port", str(s.port), "--no-access-log", "--ws", "none"],
        }

    def health_urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "actions": f"http://127.0.0.1:{s.actions_port}/health",
            "rasa": f"http://127.0.0.1:{s.rasa_port}/status",
            "app": f"http://127.0.0.1:{s.port}/healthz",
        }

    def start(self, names: tuple[str, ...] = ("actions", "rasa", "app"), timeout: float = 240) -> "Stack":
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        commands, env = self.commands(), self.env()
        for name in names:
            log = open(logs / f"{name}.log", "ab")
            self.processes[name] = subprocess.Popen(commands[name], cwd=ROOT, env=env, stdout=log,
                                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(names, timeout)
        return self

    def wait_ready(self, names: tuple[str, ...], timeout: float) -> None:
        deadline, urls = time.monotonic() + timeout, self.health_urls()
        pending = list(names)
        while pending:
            for name in list(pending):
                if self.processes[name].poll() is not None:
                    raise StackError(f"{name} exited; see {self.settings.data_dir}/logs/{name}.log")
                try:
                    if httpx.get(urls[name], timeout=2).status_code == 200:
                        pending.remove(name)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise StackError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)

    def stop(self, names: tuple[str, ...] | None = None) -> None:
        for name in list(names or self.processes):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def restart(self, name: str, timeout: float = 240) -> None:
        self.stop((name,))
        self.start((name,), timeout)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

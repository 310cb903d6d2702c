"""ACTIONS_PROCESSES: the action server as several Sanic workers on one port, each guarded by the token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import stack_settings

from bot.processes import Stack

pytestmark = pytest.mark.stack


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_two_action_server_workers_serve_with_the_token_only(tmp_path):
    config = stack_settings(tmp_path, actions_processes=2, secret_override="action-workers-test-secret")
    with Stack(config) as stack:
        stack.start(("actions",), timeout=120)
        workers = _children(stack.processes["actions"].pid)
        assert len(workers) >= 2, workers
        url = f"http://127.0.0.1:{config.actions_port}"
        token = {"Authorization": f"Bearer {config.actions_token}"}
        for _ in range(20):   # new connections each time: the kernel spreads them over the workers
            with httpx.Client() as client:
                assert client.get(f"{url}/actions", headers=token).status_code == 200
                assert client.get(f"{url}/actions").status_code == 401
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}

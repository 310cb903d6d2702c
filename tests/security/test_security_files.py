"""Hardening: the data folder, its databases, logs and secret key are readable by the service
user only; two processes creating the secret key at once end with one key, mode 0600."""

from __future__ import annotations

import multiprocessing
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from bot import settings
from bot.processes import Stack


def group_or_other_bits(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode) & 0o077


@pytest.mark.stack
def test_running_stack_creates_only_private_files(stack):
    data = stack.settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*")]
    names = {p.name for p in files}
    assert {"bot.db", "rasa_tracker.db", "secret.key", "logs", "rasa.log", "actions.log", "app.log"} <= names
    leaky = {str(p.relative_to(data)): oct(stat.S_IMODE(p.lstat().st_mode)) for p in files if group_or_other_bits(p)}
    assert not leaky


@pytest.mark.stack
def test_children_run_with_umask_077(stack):
    for name, process in stack.processes.items():
        status = Path(f"/proc/{process.pid}/status").read_text()
        umask = next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:"))
        assert int(umask, 8) == 0o077, name


def test_files_left_readable_by_an_older_version_are_tightened(tmp_path):
    data = tmp_path / "var"
    (data / "logs").mkdir(parents=True)
    data.chmod(0o755)
    for path in (data / "bot.db", data / "logs" / "rasa.log", data / "secret.key"):
        path.write_text("x")
        path.chmod(0o644)
    config = replace(settings.load(), data_dir=data, secret_override=None)
    Stack(config).start(names=())  # prepares the folder, starts nothing
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert all(group_or_other_bits(p) == 0 for p in [data, *data.rglob("*")])


def _read_secret(data_dir: str, barrier, results) -> None:
    config = replace(settings.load(), data_dir=Path(data_dir), secret_override=None)
    barrier.wait()
    results.put(config.secret())


@pytest.mark.parametrize("racers", [2, 6])
def test_racing_processes_end_with_one_private_key(tmp_path, racers):
    context = multiprocessing.get_context("spawn")
    data = tmp_path / "fresh"
    barrier, results = context.Barrier(racers), context.Queue()
    workers = [context.Process(target=_read_secret, args=(str(data), barrier, results)) for _ in range(racers)]
    for worker in workers:
        worker.start()
    keys = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    key_file = data / "secret.key"
    assert key_file.read_text().strip() == keys[0]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700

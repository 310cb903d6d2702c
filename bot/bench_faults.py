"""Disk and database faults under a running stack: a locked database and a full disk (issue 13).

``python -m bot.bench_faults`` (root: it mounts a small tmpfs) starts the whole stack with its data
folder on a small disk of its own, has citizens talk through ``POST /api/messages`` and, one fault
after the other:

- **app database locked**: another connection holds ``BEGIN EXCLUSIVE`` on ``bot.db`` for longer
  than the app's busy timeout (``bot.db.BUSY_TIMEOUT_MS``, 10 s) while every citizen sends a question;
- **tracker database locked**: the same on Rasa's ``rasa_tracker.db``;
- **disk full**: the write-ahead logs are checkpointed and the small disk filled with a file up to
  the last byte, then every citizen sends a question.

Then the fault is lifted and nothing else is done: the service has to come back by itself. For every
message sent during a fault the citizen's reply is checked against what the stores hold afterwards
(:func:`judge`):

- an answer → the question and the answer are in the conversation's history, the question once;
- "đã được lưu" (``BUSY``, ``RETRYING``) → the question is kept and answered later, exactly once,
  by the retry of kept messages (``bot.app`` every 30 s), with no second copy of the question;
- "chưa được lưu" (``NOT_SAVED``) → the question is not in the history (the citizen sends it again);
- anything else (a 5xx, a timeout, an unexpected text) is counted as not survived.

``lost``: a message acknowledged (answered or "đã được lưu") that the history does not hold, or a
kept one never answered. ``untrue``: a reply that says the opposite of what the stores hold.
``twice``: a question answered more than once. Both databases must pass ``PRAGMA integrity_check``
after each fault, and the first question after it must be answered normally (``resumed``).

The library is :func:`run_faults` (``tests/test_faults.py`` runs it and asserts the figures; the
README's "Faults" table comes from ``python -m bot.bench_faults``, also a section of ``make bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import sqlite3
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import httpx

from bot.conversations import BUSY, FAILED, NOT_SAVED, RETRYING
from bot.vntext import fold
from bot.web_sessions import HEADER

# Questions whose answers name their procedure (folded words to find in the answer).
QUESTIONS = (
    ("lệ phí làm hộ chiếu bao nhiêu", "ho chieu"),
    ("đăng ký khai sinh cần giấy tờ gì", "khai sinh"),
    ("đăng ký kết hôn cần những giấy tờ gì", "ket hon"),
    ("làm căn cước mất bao lâu", "can cuoc"),
    ("đăng ký tạm trú cần giấy tờ gì", "tam tru"),
    ("giấy phép xây dựng nộp ở đâu", "xay dung"),
)
KEPT = (BUSY, RETRYING)
DISK_MB = 96
SETTLE_SECONDS = 150.0   # the retry of kept messages runs every 30 s, for messages kept 30 s ago


class MountError(RuntimeError):
    """The small disk could not be mounted (not root, or no permission to mount in this container)."""


@contextlib.contextmanager
def small_disk(size_mb: int = DISK_MB) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` MB mounted on a new folder, unmounted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bot-small-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size_mb)}m,mode=0700", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        folder.rmdir()
        raise MountError(mounted.stderr.strip() or "mount failed")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def locked(path: Path, seconds: float) -> Iterator[None]:
    """Hold ``BEGIN EXCLUSIVE`` on the SQLite file ``path`` from now until ``seconds`` have passed
    (or the block ends, whichever is later)."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("BEGIN EXCLUSIVE")
    until = time.monotonic() + seconds
    try:
        yield
    finally:
        time.sleep(max(0.0, until - time.monotonic()))
        connection.execute("ROLLBACK")
        connection.close()


@contextlib.contextmanager
def disk_full(folder: Path, databases: tuple[Path, ...]) -> Iterator[None]:
    """Fill the file system of ``folder`` to the last byte (after checkpointing the databases' write-ahead
    logs, so that their next write needs new space), free it again afterwards."""
    for database in databases:
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = folder / "filler.bin"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            piece = chunk[:size]
            try:
                while True:
                    out.write(piece)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
    try:
        yield
    finally:
        filler.unlink()


@dataclass
class Sent:
    conversation: str
    text: str
    expect: str
    status: int = 0
    reply: str = ""
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        if self.status != 200:
            return "error"
        if self.reply == NOT_SAVED:
            return "not_saved"
        if self.reply in KEPT:
            return "kept"
        if self.reply == FAILED:
            return "failed"
        return "answered" if self.expect in fold(self.reply) else "wrong"


@dataclass
class FaultFigures:
    fault: str
    tried: int = 0
    answered: int = 0        # answered at once
    kept: int = 0            # told "đã được lưu", answered later
    not_saved: int = 0       # told "chưa được lưu"
    survived: int = 0        # told the truth, nothing lost, nothing twice
    lost: int = 0
    untrue: int = 0
    twice: int = 0
    errors: int = 0          # 5xx, timeouts, unexpected texts
    integrity: bool = True
    resumed: bool = False
    resumed_after: float = 0.0
    problems: list[str] = field(default_factory=list)


class Citizens:
    """Web conversations through the public API."""

    def __init__(self, base_url: str, count: int, timeout: float = 90.0):
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.conversations: list[tuple[str, dict[str, str]]] = []
        for _ in range(count):
            response = self.client.post("/api/conversations")
            response.raise_for_status()
            body = response.json()
            self.conversations.append((body["conversation_id"], {HEADER: body["token"]}))

    def headers(self, conversation: str) -> dict[str, str]:
        return next(h for c, h in self.conversations if c == conversation)

    def say(self, sent: Sent) -> Sent:
        start = time.perf_counter()
        try:
            response = self.client.post("/api/messages", json={"conversation_id": sent.conversation, "text": sent.text},
                                        headers=self.headers(sent.conversation))
            sent.status = response.status_code
            if response.status_code == 200:
                sent.reply = " ".join(r.get("text") or "" for r in response.json()["replies"])
        except httpx.HTTPError as error:
            sent.status, sent.reply = -1, type(error).__name__
        sent.seconds = time.perf_counter() - start
        return sent

    def all_say(self, round_number: int) -> list[Sent]:
        """Every citizen sends one question at the same time (a different one each round)."""
        batch = [Sent(conversation, *QUESTIONS[(round_number + i) % len(QUESTIONS)])
                 for i, (conversation, _) in enumerate(self.conversations)]
        with ThreadPoolExecutor(len(batch)) as pool:
            return list(pool.map(self.say, batch))

    def history(self, conversation: str) -> list[dict]:
        response = self.client.get(f"/api/conversations/{conversation}/messages", headers=self.headers(conversation))
        response.raise_for_status()
        return response.json()["messages"]

    def close(self) -> None:
        self.client.close()


def pending_count(app_db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{app_db}?mode=ro", uri=True, timeout=30)) as connection:
        return connection.execute("SELECT count(*) FROM messages WHERE status = 'pending'").fetchone()[0]


def integrity_ok(database: Path) -> bool:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def judge(figures: FaultFigures, sent: list[Sent], histories: dict[str, list[dict]]) -> None:
    """Compare what each citizen was told with what the stores hold after the fault."""
    for message in sent:
        figures.tried += 1
        history = histories[message.conversation]
        asked = [i for i, m in enumerate(history) if m["direction"] == "in" and m["text"] == message.text]
        answers = []
        if asked:   # the bot's messages after the question, up to the citizen's next one
            for m in history[asked[-1] + 1:]:
                if m["direction"] == "in":
                    break
                if message.expect in fold(m["text"] or "") and m["text"] not in KEPT:
                    answers.append(m)
        kind = message.kind
        problem = None
        if kind in ("answered", "kept"):   # acknowledged: must be in the history, answered once
            setattr(figures, kind, getattr(figures, kind) + 1)
            if not asked:
                figures.lost += 1
                figures.untrue += kind == "kept"
                problem = f"{kind} but not in the history"
            elif kind == "kept" and not answers:
                figures.lost += 1
                problem = "kept but never answered"
            elif len(asked) > 1 or len(answers) > 1:
                figures.twice += 1
                problem = f"{kind}, stored or answered twice"
        elif kind == "not_saved":
            figures.not_saved += 1
            if asked:
                figures.untrue += 1
                problem = "told it was not saved, but it is in the history"
        else:
            figures.errors += 1
            problem = f"unexpected reply ({message.status}): {message.reply[:80]}"
        if problem is None:
            figures.survived += 1
        else:
            figures.problems.append(f"{message.text!r}: {problem}")


def settle(app_db: Path, timeout: float = SETTLE_SECONDS) -> bool:
    """Wait until no message is kept unanswered (the retry loop answered them all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_count(app_db) == 0:
            return True
        time.sleep(2)
    return False


def one_fault(name: str, citizens: Citizens, round_number: int, fault: Callable[[], contextlib.AbstractContextManager],
              app_db: Path, tracker_db: Path) -> FaultFigures:
    figures = FaultFigures(name)
    with fault():
        sent = citizens.all_say(round_number)
    lifted = time.monotonic()
    if not settle(app_db):
        figures.problems.append("kept messages still unanswered after the fault")
    judge(figures, sent, {c: citizens.history(c) for c, _ in citizens.conversations})
    figures.integrity = integrity_ok(app_db) and integrity_ok(tracker_db)
    after = citizens.all_say(round_number + 1)
    figures.resumed = all(m.kind == "answered" for m in after)
    figures.resumed_after = time.monotonic() - lifted
    if not figures.resumed:
        figures.problems += [f"after the fault {m.text!r}: {m.kind} {m.reply[:80]}" for m in after if m.kind != "answered"]
    return figures


def run_faults(stack, citizens_count: int = 4, lock_seconds: float = 14.0) -> list[FaultFigures]:
    """The three faults, one after the other, on a started ``stack`` (``bot.processes.Stack``) whose
    data folder is on a small disk of its own."""
    settings = stack.settings
    app_db, tracker_db = settings.app_db, settings.tracker_db
    citizens = Citizens(stack.base_url, citizens_count)
    try:
        warm = citizens.all_say(0)   # every conversation and both databases exist, Rasa is warm
        if not all(m.kind == "answered" for m in warm):
            raise RuntimeError("the stack does not answer before any fault: "
                               + "; ".join(f"{m.kind} {m.reply[:60]}" for m in warm))
        return [
            one_fault("app database locked", citizens, 1, lambda: locked(app_db, lock_seconds), app_db, tracker_db),
            one_fault("tracker database locked", citizens, 3, lambda: locked(tracker_db, lock_seconds), app_db,
                      tracker_db),
            one_fault("disk full", citizens, 5, lambda: disk_full(settings.data_dir, (app_db, tracker_db)),
                      app_db, tracker_db),
        ]
    finally:
        citizens.close()


def print_faults(results: list[FaultFigures]) -> None:
    print(f"{'fault':26} {'tried':>5} {'survived':>8} {'lost':>4} {'untrue':>6} {'twice':>5} {'answered':>8} "
          f"{'kept':>4} {'not saved':>9} {'errors':>6} {'intact':>6} {'resumed':>8}")
    for f in results:
        print(f"{f.fault:26} {f.tried:5} {f.survived:8} {f.lost:4} {f.untrue:6} {f.twice:5} {f.answered:8} "
              f"{f.kept:4} {f.not_saved:9} {f.errors:6} {'yes' if f.integrity else 'NO':>6} "
              f"{('yes' if f.resumed else 'NO'):>4} {f.resumed_after:3.0f}s")
        for problem in f.problems:
            print(f"    {problem}")


@contextlib.contextmanager
def fault_stack(model: Path | None = None, disk_mb: int = DISK_MB, **overrides) -> Iterator[object]:
    """The whole stack (Rasa, actions, bot app) with its data folder on a small disk of its own."""
    from bot import settings as bot_settings
    from bot.processes import Stack, free_port
    from bot.training import build_model

    with small_disk(disk_mb) as disk:
        config = replace(bot_settings.load(), data_dir=disk / "var", model=model or build_model(), port=free_port(),
                         rasa_port=free_port(), actions_port=free_port(), **overrides)
        with Stack(config) as stack:
            stack.start()
            stack.supervise_in_background()
            yield stack


def print_fault_figure(citizens: int = 6) -> list[FaultFigures]:
    """``make bench``'s section: the three faults on a stack of their own (or why they were not measured)."""
    print(f"\n== Faults: a locked database, a full disk ({citizens} citizens talking; bot.bench_faults) ==")
    try:
        with fault_stack() as stack:
            results = run_faults(stack, citizens)
    except MountError as error:
        print(f"not measured: the small disk could not be mounted ({error})")
        return []
    print_faults(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench_faults", description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=4, help="conversations talking during each fault")
    parser.add_argument("--lock-seconds", type=float, default=14.0, help="how long each database stays locked")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        with fault_stack() as stack:
            results = run_faults(stack, args.citizens, args.lock_seconds)
    except MountError as error:
        print(f"faults not measured: the small disk could not be mounted ({error})")
        return 2
    if args.json:
        print(json.dumps([f.__dict__ for f in results], ensure_ascii=False, indent=2))
    else:
        print_faults(results)
    return 0 if all(not f.problems for f in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

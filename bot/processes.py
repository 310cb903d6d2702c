"""Start and stop the three processes together: Rasa server, action server, bot app.

Used by ``python -m bot run`` and by the end-to-end tests. Ports, paths and secrets come
from ``bot.settings``; the children get them through the environment (``Stack.env``),
never on their command line (which every local user can read with ``ps``).

Logs (personal data must never reach them):

- Each child runs with stdout and stderr piped to this process, which writes their lines
  through a ``RotatingFileHandler`` (5 MB × 5 files, mode 0600) to
  ``<data dir>/logs/<name>.log`` with a filter that masks every long number (ID, phone)
  on the way. A child cannot open, grow or reopen its own log file, and whatever it
  prints — including a third-party library's print or warning — passes the filter.
- The filter here only sees text, so it cannot recognise a name. The children therefore
  also clean their own records at the source (``install_log_hygiene``, installed by
  ``bot.rasa_server``, ``bot.action_server`` and the bot app's launcher below): a
  traceback keeps its frames and exception types but never an exception's message
  (messages of SQL, JSON and validation errors quote the data), and long numbers in log
  messages are masked. Rasa's structured log events are reduced to known-safe fields
  (``bot.rasa_server``), Rasa's REST channel logs only the error type and the
  conversation id (``bot.rasa_channel``), and Rasa runs at INFO (it logs message texts at
  DEBUG): ``LOG_LEVEL`` is forced to INFO here.

Supervision: ``Stack.supervise()`` (run by ``python -m bot run``; the tests run it in a
thread) restarts a child that died — Rasa killed with ``kill -9``, the action server
crashed — with exponential backoff (tenacity's wait strategy; logged), without touching
the others: meanwhile the bot app answers the polite busy message and keeps what arrives
(it is answered once Rasa is back). ``Stack.stop`` is idempotent and safe from a signal
handler; ``python -m bot run`` installs its SIGTERM handler before starting anything, so a
SIGTERM during start-up stops every child already started.

Files: the data folder is made 0700 and the children run with umask 077, so the
databases, their journals and the logs are readable by the service user only; files left
readable by an older version are tightened at start.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import tenacity

from bot.settings import ROOT, Settings, call_host, ensure_private_dir

LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 5
MAX_LOG_LINE = 8000  # characters; a longer line (a dumped payload) is cut
UMASK = 0o077


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> int:
    """A port P such that P … P + count - 1 are free right now (RASA_PORT with RASA_PROCESSES)."""
    for _ in range(200):
        first = free_port()
        try:
            with contextlib.ExitStack() as probes:
                for port in range(first + 1, first + count):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


class StackError(RuntimeError):
    """A process died or did not become ready in time."""


# --- log hygiene --------------------------------------------------------------------------


# Log timestamps ("2026-12-02 14:31:39,215") are kept: they are no personal number.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?")


def _mask(text: str) -> str:
    """``text`` with long numbers (ID, phone) masked by ``bot.dossiers.masking.mask_numbers``,
    keeping log timestamps and the indentation of each piece."""
    pieces, last = [], 0
    for stamp in _TIMESTAMP.finditer(text):
        pieces += [_mask_piece(text[last:stamp.start()]), stamp.group(0)]
        last = stamp.end()
    pieces.append(_mask_piece(text[last:]))
    return "".join(pieces)


def _mask_piece(piece: str) -> str:
    from bot.dossiers.masking import mask_numbers

    core = piece.strip()
    if not core:
        return piece
    lead, trail = piece[:len(piece) - len(piece.lstrip())], piece[len(piece.rstrip()):]
    return lead + mask_numbers(core) + trail


class MaskNumbersFilter(logging.Filter):
    """Masks every long number (ID, phone) in a record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the bare template
            message = str(record.msg)
        record.msg, record.args = _mask(message), None
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file created with mode 0600 whatever the process umask."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def safe_traceback(exc_info) -> str:
    """A traceback with frames and exception types but no exception message (messages
    quote data: SQL parameters, JSON bodies, slot values)."""
    _, error, _ = exc_info if isinstance(exc_info, tuple) else (None, exc_info, None)
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    lines = []
    for position, error in enumerate(reversed(chain)):
        if position:
            lines.append("The above exception led to:")
        lines.append("Traceback (most recent call last):")
        for frame in traceback.extract_tb(error.__traceback__):
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        lines.append(f"{type(error).__module__}.{type(error).__qualname__} (message not logged)")
    return "\n".join(lines)


def install_log_hygiene() -> None:
    """Clean every log record of this process when it is created, whatever handler writes it:
    tracebacks lose exception messages, long numbers are masked. Idempotent."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_bot_hygiene", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = safe_traceback(record.exc_info)
                record.exc_info = None
            if isinstance(record.msg, str):
                record.msg = _mask(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(_mask(a) if isinstance(a, str) else a for a in record.args)
        except Exception:  # never let logging break the process
            pass
        return record

    factory._bot_hygiene = True
    logging.setLogRecordFactory(factory)
    warnings.showwarning = _log_warning


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings are logged by category and place only: their messages quote input (Rasa warns
    "Failed to parse arguments in line '<what the citizen wrote>'")."""
    logging.getLogger("py.warnings").warning("%s at %s:%s (message not logged)", category.__name__,
                                             filename, lineno)


class _ChildLog:
    """Copies a child's output, line by line, into its rotating, number-masked log file."""

    def __init__(self, name: str, path: Path):
        self.name = name
        self.handler = _PrivateRotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                                   encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.handler.addFilter(MaskNumbersFilter())
        self.thread: threading.Thread | None = None

    def follow(self, stream) -> None:
        self.thread = threading.Thread(target=self._pump, args=(stream,), name=f"log-{self.name}", daemon=True)
        self.thread.start()

    def _pump(self, stream) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")[:MAX_LOG_LINE]
                try:
                    self.handler.handle(logging.makeLogRecord({"name": self.name, "levelno": logging.INFO,
                                                               "levelname": "INFO", "msg": line}))
                except Exception:  # keep draining the pipe, or the child blocks on a full pipe
                    pass

    def close(self, timeout: float = 5) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
        self.handler.close()


def _tighten(folder: Path) -> None:
    """Remove group/other bits from everything under ``folder`` (files of older versions)."""
    for path in [folder, *folder.rglob("*")]:
        try:
            mode = path.lstat().st_mode
            if not path.is_symlink() and mode & 0o077:
                path.chmod(mode & 0o700)
        except OSError:
            pass


# --- the stack ----------------------------------------------------------------------------


_RESTART_BACKOFF = tenacity.wait_exponential(multiplier=2, max=120)
HEALTHY_AFTER = 120.0  # seconds a restarted child must live before its failures are forgotten
supervisor_log = logging.getLogger("bot.supervisor")


@dataclass
class Stack:
    settings: Settings
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)   # e.g. a test's platform settings
    _logs: dict[str, _ChildLog] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _failures: dict[str, int] = field(default_factory=dict, repr=False)
    _started_at: dict[str, float] = field(default_factory=dict, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def log_dir(self) -> Path:
        return self.settings.data_dir / "logs"

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # One TensorFlow thread per serving process: DIET's inference on one message is too
            # small to split, and a second thread only fought the app and the action server for the
            # other core (8 concurrent: 34 → 41 turns/s, Rasa's CPU per turn 27 → 21 ms; README
            # "Speed"). Set either in the environment to override (e.g. one Rasa process on 8 cores).
            "TF_INTER_OP_PARALLELISM_THREADS": os.environ.get("TF_INTER_OP_PARALLELISM_THREADS", "1"),
            "TF_INTRA_OP_PARALLELISM_THREADS": os.environ.get("TF_INTRA_OP_PARALLELISM_THREADS", "1"),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",  # Rasa logs message texts at DEBUG
            "BOT_PORT": str(s.port),
            "BOT_HOST": s.host,
            "RASA_HOST": s.rasa_host,
            "RASA_PORT": str(s.rasa_port),
            "RASA_TIMEOUT": str(s.rasa_timeout),
            "ACTIONS_HOST": s.actions_host,
            "ACTIONS_PORT": str(s.actions_port),
            "ACTIONS_URL": s.actions_url,
            "ACTIONS_TOKEN": s.actions_token,
            "ACTIONS_TIMEOUT": str(s.actions_timeout),
            "RASA_TOKEN": s.rasa_token,
            "BOT_DATA_DIR": str(s.data_dir),
            "BOT_MODEL": str(s.model),
            "RASA_TRACKER_DB": str(s.tracker_db),
            "RASA_TRACKER_URL": s.tracker_url,
            "RASA_PROCESSES": str(s.rasa_processes),
            "APP_PROCESSES": str(s.app_processes),
            "ACTIONS_PROCESSES": str(s.actions_processes),
            "DATABASE_URL": s.database_url,
            "REDIS_URL": s.redis_url,
            **({"BOT_SECRET": s.secret_override} if s.secret_override else {}),
            **self.extra_env,
        }

    @property
    def rasa_names(self) -> tuple[str, ...]:
        """"rasa", then "rasa-2", "rasa-3", … (``RASA_PROCESSES``), one per port of ``rasa_ports``."""
        return tuple("rasa" if number == 1 else f"rasa-{number}"
                     for number in range(1, len(self.settings.rasa_ports) + 1))

    @property
    def names(self) -> tuple[str, ...]:
        return ("actions", *self.rasa_names, "app")

    def commands(self) -> dict[str, list[str]]:
        s, py = self.settings, sys.executable
        return {
            "actions": [py, "-m", "bot.action_server"],
            # --auth-token is added by bot.rasa_server from RASA_TOKEN (kept off the command line)
            **{name: [py, "-m", "bot.rasa_server", "run", "--enable-api", "-i", s.rasa_host, "-p", str(port),
                      "--model", str(s.model), "--endpoints", str(ROOT / "endpoints.yml"),
                      "--credentials", str(ROOT / "credentials.yml")]
               for name, port in zip(self.rasa_names, s.rasa_ports)},
            "app": [py, "-m", "bot.processes", "uvicorn", "bot.app:create_app", "--factory", "--host", s.host,
                    "--port", str(s.port), "--no-access-log", "--ws", "none",
                    *(["--workers", str(s.app_processes)] if s.app_processes > 1 else [])],
        }

    def health_urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "actions": s.actions_health_url,
            # "Hello from Rasa": the one route without the token
            **{name: f"{url}/" for name, url in zip(self.rasa_names, s.rasa_urls)},
            "app": f"http://{call_host(s.host)}:{s.port}/healthz",
        }

    def start(self, names: tuple[str, ...] | None = None, timeout: float = 240) -> "Stack":
        names = self.names if names is None else names
        problems = self.settings.scale_out_problems()
        if problems:
            raise StackError("; ".join(problems))
        ensure_private_dir(self.settings.data_dir)
        ensure_private_dir(self.log_dir)
        _tighten(self.settings.data_dir)
        commands, env = self.commands(), self.env()
        for name in names:
            with self._lock:
                if self._stopping.is_set():
                    raise StackError("stopping")
                log = self._logs.pop(name, None)
                if log is not None:
                    log.close()
                log = self._logs[name] = _ChildLog(name, self.log_dir / f"{name}.log")
                # No signal handler may run between the fork and the bookkeeping: a SIGTERM then
                # would leave a child that stop() does not know about.
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
                try:
                    self.processes[name] = subprocess.Popen(
                        commands[name], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, start_new_session=True, umask=UMASK)
                    self._started_at[name] = time.monotonic()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                log.follow(self.processes[name].stdout)
        self.wait_ready(names, timeout)
        return self

    def wait_ready(self, names: tuple[str, ...], timeout: float) -> None:
        deadline, urls = time.monotonic() + timeout, self.health_urls()
        pending = list(names)
        while pending:
            if self._stopping.is_set():
                raise StackError("stopping")
            for name in list(pending):
                process = self.processes.get(name)
                if process is None or process.poll() is not None:
                    raise StackError(f"{name} exited; see {self.log_dir}/{name}.log")
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
        if names is None:
            self._stopping.set()
            # Until none is left: the supervisor may have started a child (a restart) just before
            # ``_stopping`` was set; ``start`` starts none after it (both under the lock).
            while True:
                with self._lock:
                    left = tuple(self.processes)
                if not left:
                    return
                self.stop(left)
        for name in names:
            with self._lock:
                process = self.processes.pop(name, None)
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            log = self._logs.pop(name, None)
            if log is not None:
                log.close()

    def restart(self, name: str, timeout: float = 240) -> None:
        self.stop((name,))
        self.start((name,), timeout)

    # -- supervision ---------------------------------------------------------------------

    def dead(self) -> list[str]:
        """Children that exited although nobody stopped them."""
        with self._lock:
            return [name for name, process in self.processes.items() if process.poll() is not None]

    def supervise_once(self, timeout: float = 240) -> list[str]:
        """Restart every dead child (after its backoff); the names restarted."""
        restarted = []
        for name in self.dead():
            if self._stopping.is_set():
                break
            with self._lock:
                process = self.processes.get(name)
                if process is None or process.poll() is None:
                    continue
                lived = time.monotonic() - self._started_at.get(name, 0.0)
                failures = 0 if lived > HEALTHY_AFTER else self._failures.get(name, 0)
                self._failures[name] = failures + 1
                delay = float(_RESTART_BACKOFF(types_attempt(failures + 1))) if failures else 0.0
                supervisor_log.error("%s exited with code %s after %.0f s; restarting in %.0f s",
                                     name, process.returncode, lived, delay)
            if delay and self._stopping.wait(delay):
                break
            try:
                self.restart(name, timeout)
                restarted.append(name)
                supervisor_log.warning("%s restarted", name)
            except StackError as error:
                supervisor_log.error("%s did not come back: %s", name, error)
        return restarted

    def supervise(self, every: float = 1.0) -> None:
        """Restart dead children until ``stop()``."""
        while not self._stopping.wait(every):
            self.supervise_once()

    def supervise_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.supervise, name="stack-supervisor", daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def types_attempt(number: int):
    """What tenacity's wait strategies read (only ``attempt_number``)."""
    import types

    return types.SimpleNamespace(attempt_number=number)


def _run_uvicorn() -> None:
    """``python -m bot.processes uvicorn ARGS``: the bot app under uvicorn, with log hygiene."""
    install_log_hygiene()
    import uvicorn.main

    sys.argv = ["uvicorn", *sys.argv[2:]]
    uvicorn.main.main()


if __name__ == "__main__":
    if sys.argv[1:2] != ["uvicorn"]:
        sys.exit("usage: python -m bot.processes uvicorn ARGS")
    _run_uvicorn()

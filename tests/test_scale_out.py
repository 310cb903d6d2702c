"""Two Rasa processes and two bot app processes on a real PostgreSQL (Rasa's tracker store and the
app's own data) and a real Redis (Rasa's lock store, rate limits, live updates) — ``RASA_PROCESSES=2``,
``APP_PROCESSES=2``, ``DATABASE_URL``, ``REDIS_URL``: any process serves any turn of a conversation
with its whole context, and a process killed with -9 costs the citizen nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.conversations import BUSY, NOT_SAVED
from bot.processes import Stack, free_port, free_ports
from tests.conftest import stack_settings
from tests.servers import REDIS_SERVER, _as_postgres, pg_bin_dir, postgres_server
from tests.test_e2e import Chat, text_of

pytestmark = pytest.mark.stack


class Redis:
    """A redis-server of this module's own, on a fixed port, that a test can kill and start again."""

    def __init__(self, folder):
        self.port, self.folder, self.process = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(self.folder)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _redis_answers(self.url):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class Postgres:
    """This module's own PostgreSQL (``tests/servers.py``), which a test can kill -9 and start again."""

    def __init__(self, url: str):
        self.url = url
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            self.data = Path(connection.execute(sa.text("SHOW data_directory")).scalar())
            # tests/servers.py turns synchronous_commit off for speed, which loses the last commits
            # when every server process is killed: a real server keeps them, and so must this one.
            connection.execute(sa.text("ALTER SYSTEM SET synchronous_commit TO on"))
            connection.execute(sa.text("SELECT pg_reload_conf()"))
        engine.dispose()

    def kill(self) -> None:
        """SIGKILL to the server and every backend (as when the machine or the service dies): a
        backend left alone would serve its open connection until it noticed."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        backends = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
                    and _parent(entry) == postmaster]
        for pid in [postmaster, *backends]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def start(self) -> None:
        for attempt in range(10):   # the killed server's backends exit by themselves, within a moment
            result = subprocess.run(_as_postgres([str(pg_bin_dir() / "pg_ctl"), "-D", str(self.data), "-l",
                                                  str(self.data.parent / "restart.log"), "-w", "start"]),
                                    cwd=self.data.parent, stdout=subprocess.DEVNULL, timeout=120)
            if result.returncode == 0:
                return
            time.sleep(1)
        raise AssertionError("PostgreSQL did not start again")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    redis = Redis(tmp_path_factory.mktemp("redis"))
    redis.start()
    try:
        with postgres_server() as url:
            yield Postgres(url), redis
    finally:
        redis.kill()


@pytest.fixture(scope="module")
def scaled(model_path, tmp_path_factory, servers):
    postgres, redis = servers
    config = stack_settings(tmp_path_factory.mktemp("scaled"), model=model_path, rasa_port=free_ports(2),
                            rasa_processes=2, app_processes=2, database_url=postgres.url, redis_url=redis.url,
                            secret_override="scale-out-test-secret")
    env = {"RATE_LIMIT_PER_MINUTE": "0", "CONVERSATION_RATE_PER_MINUTE": "0", "OFFICE_HOURS": "always"}
    with Stack(config, extra_env=env) as running:
        running.start()
        running.supervise_in_background()
        yield running


def rasa_turn(stack: Stack, process: int, sender: str, text: str) -> str:
    """One turn sent straight to one Rasa process's REST channel."""
    response = httpx.post(f"{stack.settings.rasa_urls[process]}/webhooks/rest/webhook", timeout=60,
                          json={"sender": sender, "message": text},
                          headers={"Authorization": f"Bearer {stack.settings.rasa_token}"})
    assert response.status_code == 200, response.status_code
    return "\n".join(reply.get("text", "") for reply in response.json())


def stored_events(url: str, sender: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                sa.text("SELECT type_name, coalesce(intent_name, action_name, '') FROM events"
                        " WHERE sender_id = :s ORDER BY id"), {"s": sender})]
    finally:
        engine.dispose()


def test_turns_of_one_conversation_alternate_between_processes_and_keep_the_context(scaled, servers):
    sender = "direct-alternating"
    papers = rasa_turn(scaled, 0, sender, "lam ho chieu can giay to gi")        # process 1 caches it
    assert "TK01" in papers
    fee = rasa_turn(scaled, 1, sender, "thế còn lệ phí?")                       # process 2 reads it from PostgreSQL
    assert "hộ chiếu" in fee.lower() and "200.000" in fee
    change = rasa_turn(scaled, 1, sender, "còn làm căn cước thì cần giấy tờ gì")  # the procedure changes on 2
    assert "căn cước" in change.lower()
    follow_up = rasa_turn(scaled, 0, sender, "lệ phí bao nhiêu")                 # 1's cache is stale: read again
    assert "căn cước" in follow_up.lower() and "hộ chiếu" not in follow_up.lower()
    events = stored_events(servers[0].url, sender)
    users = [name for kind, name in events if kind == "user"]
    assert len(users) == 4                                          # every turn stored once, none lost
    assert users.count("ask_fee") == 2


def test_a_rasa_process_killed_with_minus_9_costs_the_citizen_nothing(scaled):
    chat = Chat(scaled.base_url, "scaled-kill")
    assert "TK01" in text_of(chat.say("lam ho chieu can giay to gi"))
    answers = []
    for name in scaled.rasa_names:                 # whichever process serves this chat, each one dies once
        os.kill(scaled.processes[name].pid, signal.SIGKILL)
        time.sleep(0.5)
        reply = text_of(chat.say("thế còn lệ phí?"))
        assert BUSY not in reply                    # the other process answered at once
        answers.append(reply)
        deadline = time.monotonic() + 300
        while not (scaled.processes.get(name) and scaled.processes[name].poll() is None
                   and _answers(f"{scaled.settings.rasa_urls[scaled.rasa_names.index(name)]}/")):
            assert time.monotonic() < deadline, f"{name} did not come back"
            time.sleep(1)
    assert all("200.000" in answer and "hộ chiếu" in answer.lower() for answer in answers)
    history = chat.history()
    assert [m["direction"] for m in history].count("in") == 3       # nothing lost ...
    assert sum(1 for m in history if m["direction"] == "out" and "200.000" in m["text"]) == 2  # ... or doubled


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _children(pid: int) -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and _parent(entry) == pid]


def test_two_app_processes_share_the_conversations(scaled, servers):
    """The bot app runs as two uvicorn workers on one port; whichever serves a request, every
    conversation keeps its history and context (the data is in PostgreSQL), each message once."""
    workers = [pid for pid in _children(scaled.processes["app"].pid)
               if "bot.app" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
               or "multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    assert len(workers) >= 2, workers
    chats = [Chat(scaled.base_url, f"workers-{n}") for n in range(4)]
    for chat in chats:
        assert "TK01" in text_of(chat.say("lam ho chieu can giay to gi"))
    for chat in chats:
        assert "200.000" in text_of(chat.say("thế còn lệ phí?"))
    for chat in chats:
        directions = [m["direction"] for m in chat.history()]
        assert directions.count("in") == 2 and directions[0] == "in" and directions[-1] == "out"


def test_redis_killed_with_minus_9_the_citizen_is_told_and_answered_once_it_is_back(scaled, servers):
    """Redis gone: every turn fails inside Rasa (its lock store) while Rasa itself is up. The citizen
    is told the system is busy (not that the message failed), the message is kept (in PostgreSQL),
    and its answer arrives, once, when Redis is back (the bot app's retry of kept messages)."""
    server = servers[1]
    chat = Chat(scaled.base_url, "scaled-redis")
    assert "TK01" in text_of(chat.say("lam ho chieu can giay to gi"))
    server.kill()
    try:
        assert BUSY in text_of(chat.say("thế còn lệ phí?"))
    finally:
        server.start()
    deadline = time.monotonic() + 180
    while not any("200.000" in m["text"] for m in chat.history() if m["direction"] == "out"):
        assert time.monotonic() < deadline, ("the kept message was not answered after the store came back",
                                             [(m["direction"], m["text"][:60]) for m in chat.history()])
        time.sleep(2)
    history = chat.history()
    assert sum(1 for m in history if m["direction"] == "out" and "200.000" in m["text"]) == 1
    assert "200.000" in text_of(chat.say("lệ phí bao nhiêu"))       # and the next turn is served at once


def test_postgresql_killed_with_minus_9_the_citizen_is_asked_to_send_again_and_then_served(scaled, servers):
    """PostgreSQL gone: the bot app cannot store the message (its data is there too), so it says so —
    "chưa được lưu … gửi lại" — instead of pretending to keep it; nothing half-written. Once the
    server is back, the same question is answered with the conversation's context, and stored once."""
    server = servers[0]
    chat = Chat(scaled.base_url, "scaled-postgres")
    assert "TK01" in text_of(chat.say("lam ho chieu can giay to gi"))
    server.kill()
    try:
        assert NOT_SAVED in text_of(chat.say("thế còn lệ phí?"))
    finally:
        server.start()
    deadline = time.monotonic() + 120
    while True:   # the pools notice the restart at their next checkout (pool_pre_ping)
        reply = text_of(chat.say("thế còn lệ phí?"))
        if "200.000" in reply or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert "200.000" in reply and "hộ chiếu" in reply.lower()
    history = chat.history()
    assert [m["direction"] for m in history].count("in") == 2      # the unsaved one is not there
    assert sum(1 for m in history if m["direction"] == "out" and "200.000" in m["text"]) == 1

"""Two Rasa processes behind the bot app on a real PostgreSQL tracker store and a real Redis lock
store (``RASA_PROCESSES=2``, ``DATABASE_URL``, ``REDIS_URL``): any process serves any turn of a
conversation with its whole context, and a Rasa process killed with -9 costs the citizen nothing."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
import sqlalchemy as sa

from bot.conversations import BUSY
from bot.processes import Stack, free_ports
from tests.conftest import stack_settings
from tests.test_e2e import Chat, text_of

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def scaled(model_path, tmp_path_factory, postgres_url, redis_url):
    config = stack_settings(tmp_path_factory.mktemp("scaled"), model=model_path, rasa_port=free_ports(2),
                            rasa_processes=2, database_url=postgres_url, redis_url=redis_url,
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


def test_turns_of_one_conversation_alternate_between_processes_and_keep_the_context(scaled, postgres_url):
    sender = "direct-alternating"
    papers = rasa_turn(scaled, 0, sender, "lam ho chieu can giay to gi")        # process 1 caches it
    assert "TK01" in papers
    fee = rasa_turn(scaled, 1, sender, "thế còn lệ phí?")                       # process 2 reads it from PostgreSQL
    assert "hộ chiếu" in fee.lower() and "200.000" in fee
    change = rasa_turn(scaled, 1, sender, "còn làm căn cước thì cần giấy tờ gì")  # the procedure changes on 2
    assert "căn cước" in change.lower()
    follow_up = rasa_turn(scaled, 0, sender, "lệ phí bao nhiêu")                 # 1's cache is stale: read again
    assert "căn cước" in follow_up.lower() and "hộ chiếu" not in follow_up.lower()
    events = stored_events(postgres_url, sender)
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

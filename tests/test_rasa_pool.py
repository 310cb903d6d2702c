"""Several Rasa processes behind the bot app (RASA_PROCESSES): which one serves a turn, and what
happens when one is down. Stand-in Rasa servers on loopback; the real two-process stack on
PostgreSQL and Redis is in tests/test_scale_out.py."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot import settings
from bot.processes import Stack, StackError, free_port
from bot.rasa_client import RasaClient, RasaUnavailable
from tests.loopback import LoopbackServer


def stand_in(name: str, seen: list) -> Starlette:
    async def webhook(request):
        body = await request.json()
        seen.append((name, body["sender"]))
        return JSONResponse([{"recipient_id": body["sender"], "text": f"{name}: {body['message']}"}])

    async def put_model(request):
        seen.append((name, "PUT /model"))
        return JSONResponse({}, status_code=204)

    return Starlette(routes=[Route("/webhooks/rest/webhook", webhook, methods=["POST"]),
                             Route("/model", put_model, methods=["PUT"]),
                             Route("/", lambda r: JSONResponse({}))])


async def test_each_conversation_keeps_one_process_and_moves_when_it_is_down():
    seen: list = []
    with LoopbackServer(stand_in("one", seen)) as one, LoopbackServer(stand_in("two", seen)) as two:
        client = RasaClient([one.url, two.url], timeout=5)
        senders = [f"web:{n}" for n in range(40)]
        for _ in range(2):
            for sender in senders:
                await client.send(sender, "xin chào")
        served_by = {}
        for name, sender in seen:
            served_by.setdefault(sender, set()).add(name)
        assert all(len(names) == 1 for names in served_by.values())          # sticky: the cache stays warm
        assert {next(iter(n)) for n in served_by.values()} == {"one", "two"}  # and both processes work
        moved = next(s for s, names in served_by.items() if names == {"one"})
        port = one.port
    # "one" is gone (connection refused): its conversations are served by "two", nothing is lost
    with LoopbackServer(stand_in("two", seen), port=two.port):
        del seen[:]
        replies = await client.send(moved, "còn đó không")
        assert replies[0]["text"] == "two: còn đó không" and seen == [("two", moved)]
        assert await client.healthy()
        await client.aclose()
    dead = RasaClient([f"http://127.0.0.1:{port}", f"http://127.0.0.1:{free_port()}"], timeout=2)
    with pytest.raises(RasaUnavailable):       # none can be reached: the message is kept, as with one
        await dead.send(moved, "alo")
    assert not await dead.healthy()
    await dead.aclose()


async def test_activating_a_model_swaps_it_in_every_process(tmp_path):
    from bot.model_registry import Registry

    seen: list = []
    registry = Registry(tmp_path / "registry")
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not read by the stand-ins")
    model_id = registry.register(archive, move=False, by="lan")["id"]
    with LoopbackServer(stand_in("one", seen)) as one, LoopbackServer(stand_in("two", seen)) as two:
        model = await registry.activate(model_id, "lan", [one.url, two.url], token=None)
    assert seen == [("one", "PUT /model"), ("two", "PUT /model")]
    assert model["id"] == model_id and registry.active_id() == model_id


def test_more_than_one_rasa_process_needs_a_shared_lock_store_and_a_secret(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, rasa_processes=2, redis_url="", secret_override=None)
    problems = config.scale_out_problems()
    assert len(problems) == 2 and "REDIS_URL" in problems[0] and "BOT_SECRET" in problems[1]
    with pytest.raises(StackError, match="REDIS_URL"):
        Stack(config).start()
    ready = replace(config, redis_url="redis://127.0.0.1:6379/0", secret_override="s", rasa_port=5100)
    assert ready.scale_out_problems() == []
    stack = Stack(ready)
    assert stack.names == ("actions", "rasa", "rasa-2", "app")
    assert ready.rasa_urls == ("http://127.0.0.1:5100", "http://127.0.0.1:5101")
    commands = stack.commands()
    assert commands["rasa-2"][commands["rasa-2"].index("-p") + 1] == "5101"
    env = stack.env()      # the children (the bot app above all) read the same settings
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0" and env["RASA_PROCESSES"] == "2"
    assert env["BOT_SECRET"] == "s" and env["RASA_TRACKER_URL"] == f"sqlite:///{tmp_path / 'rasa_tracker.db'}"


def test_servers_off_loopback_need_a_shared_secret(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, rasa_host="0.0.0.0", secret_override=None)
    [problem] = config.scale_out_problems()
    assert "RASA_HOST" in problem and "BOT_SECRET" in problem
    assert config.rasa_urls == (f"http://127.0.0.1:{config.rasa_port}",)     # called on loopback
    remote = replace(config, rasa_host="10.0.0.7", actions_host="10.0.0.8", secret_override="s")
    assert remote.scale_out_problems() == []
    assert remote.rasa_urls == (f"http://10.0.0.7:{remote.rasa_port}",)
    assert remote.actions_url == f"http://10.0.0.8:{remote.actions_port}/webhook"
    command = Stack(remote).commands()["rasa"]
    assert command[command.index("-i") + 1] == "10.0.0.7"
    assert replace(config, rasa_host="::1").scale_out_problems() == []

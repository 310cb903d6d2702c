"""Benchmark of the platform channels: webhook in → reply at the (loopback fake) platform.

Part of ``make bench`` (``bot/benchmark.py``). The stack runs with Telegram and Zalo on,
pointed at the loopback fakes of ``tests/channels`` (the same fakes the tests use: this is
a development tool, run from a checkout). For each channel, citizens write at 1 and 8 at a
time; a turn's latency is from the moment the webhook call starts to the moment the fake
platform has received the first reply message for that citizen — it includes the webhook's
verification, the durable inbox, Rasa and the actions, the outbox and the platform call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
import uuid
from typing import Callable, Iterator

import httpx

TURNS = ["lệ phí làm hộ chiếu bao nhiêu", "làm căn cước ở đâu", "đăng ký tạm trú cần giấy tờ gì",
         "khai sinh cho con mất bao lâu", "cảm ơn"]
TELEGRAM_SECRET = "bench_webhook-secret"
_ids = itertools.count(int(time.time()) * 1000)


@contextlib.contextmanager
def fake_platforms() -> Iterator[dict]:
    """Both fakes on loopback ports, and the environment that points the bot app at them."""
    from bot.processes import free_port
    from tests.channels import fake_zalo
    from tests.channels.fake_telegram import FakeTelegram
    from tests.loopback import LoopbackServer

    telegram, zalo = FakeTelegram(), fake_zalo.FakeZalo()
    with LoopbackServer(telegram.app, port=free_port()) as tg, LoopbackServer(zalo.app, port=free_port()) as za:
        env = {
            "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "TELEGRAM_API_URL": f"http://127.0.0.1:{tg.port}",
            "ZALO_APP_ID": fake_zalo.APP_ID, "ZALO_APP_SECRET": fake_zalo.APP_SECRET,
            "ZALO_OA_SECRET_KEY": fake_zalo.OA_SECRET_KEY, "ZALO_ACCESS_TOKEN": fake_zalo.FIRST_ACCESS,
            "ZALO_REFRESH_TOKEN": fake_zalo.FIRST_REFRESH, "ZALO_API_URL": f"http://127.0.0.1:{za.port}",
            "ZALO_OAUTH_URL": f"http://127.0.0.1:{za.port}",
        }
        yield {"telegram": telegram, "zalo": zalo, "env": env}


def _telegram_turn(platforms: dict, user: int, text: str) -> tuple[dict, dict, Callable[[], int]]:
    from tests.channels.fake_telegram import load_update

    update = load_update("text")
    update["update_id"] = next(_ids)
    message = update["message"]
    message["chat"]["id"] = message["from"]["id"] = user
    message["message_id"], message["text"], message["date"] = next(_ids), text, int(time.time())
    fake = platforms["telegram"]

    def received() -> int:
        return sum(1 for c in fake.calls_to("sendMessage", ok_only=True) if c.param("chat_id") == user)

    return update, {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}, received


def _zalo_turn(platforms: dict, user: int, text: str) -> tuple[bytes, dict, Callable[[], int]]:
    from tests.channels import fake_zalo

    event = fake_zalo.event("user_send_text", sender={"id": str(user)}, user_id_by_app=str(user),
                            message={"text": text, "msg_id": uuid.uuid4().hex}, timestamp=str(int(time.time() * 1000)))
    body, headers = fake_zalo.signed_webhook(event)
    fake = platforms["zalo"]

    def received() -> int:
        return sum(1 for m in fake.delivered if m["recipient"]["user_id"] == str(user))

    return body, headers, received


async def _citizen(client: httpx.AsyncClient, platforms: dict, channel: str, turns: int,
                   latencies: list[float]) -> None:
    user = next(_ids)
    for i in range(turns):
        text = TURNS[i % len(TURNS)]
        if channel == "telegram":
            body, headers, received = _telegram_turn(platforms, user, text)
            send = dict(json=body, headers=headers)
        else:
            body, headers, received = _zalo_turn(platforms, user, text)
            send = dict(content=body, headers=headers)
        before = received()
        start = time.perf_counter()
        (await client.post(f"/channels/{channel}/webhook", **send)).raise_for_status()
        deadline = start + 30
        while received() <= before:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no {channel} reply")
            await asyncio.sleep(0.002)
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.3)  # let the rest of this turn's replies go before the next question


async def channel_load(base_url: str, platforms: dict, channel: str, concurrency: int, turns: int) -> dict:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await asyncio.gather(*(_citizen(client, platforms, channel, turns, latencies) for _ in range(concurrency)))
    ordered = sorted(latencies)
    return {"turns": len(ordered), "p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def print_channel_latency(base_url: str, platforms: dict, turns: int) -> None:
    print("\n== Channels: webhook in → first reply at the platform (loopback fakes) ==")
    print(f"{'channel':>10} {'concurrent':>10} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for channel in ("telegram", "zalo"):
        asyncio.run(channel_load(base_url, platforms, channel, 1, 2))  # warm-up
        for concurrency in (1, 8):
            r = asyncio.run(channel_load(base_url, platforms, channel, concurrency, turns))
            print(f"{channel:>10} {concurrency:>10} {r['turns']:>6} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}")

"""Live updates (bot/wakeups.py): streams of one process wake at once; of another process through Redis."""

from __future__ import annotations

import asyncio

import pytest

from bot.wakeups import Wakeups


async def _woken(event: asyncio.Event, timeout: float = 5.0) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False


@pytest.mark.asyncio
async def test_a_stream_wakes_when_its_own_process_stores_a_message():
    wakeups = Wakeups(asyncio.get_running_loop())
    with wakeups.listen("c1") as woken, wakeups.listen("c2") as other:
        wakeups.notify("c1")
        assert await _woken(woken)
        assert not other.is_set()
    assert wakeups.listeners() == 0


@pytest.mark.asyncio
async def test_with_redis_a_stream_wakes_when_another_process_stores_a_message(redis_url):
    loop = asyncio.get_running_loop()
    first, second = Wakeups(loop, redis_url=redis_url), Wakeups(loop, redis_url=redis_url)
    first.start()
    second.start()
    try:
        with second.listen("c1") as woken, second.listen("c2") as other:
            for _ in range(50):        # until the subscriptions are in place (a fresh connection each)
                first.notify("c1")
                if await _woken(woken, 0.1):
                    break
            assert woken.is_set() and not other.is_set()
        with first.listen("c3") as own:
            second.notify("c3")
            assert await _woken(own)
    finally:
        await first.stop()
        await second.stop()


@pytest.mark.asyncio
async def test_without_redis_reachable_local_streams_still_wake():
    wakeups = Wakeups(asyncio.get_running_loop(), redis_url="redis://127.0.0.1:1/0")   # nothing listens there
    wakeups.start()
    try:
        with wakeups.listen("c1") as woken:
            wakeups.notify("c1")
            assert await _woken(woken)
    finally:
        await wakeups.stop()

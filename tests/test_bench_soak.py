"""The long run of ``make bench`` (``bot.bench_soak``) counts failed turns instead of stopping, and
reports every interval."""

from __future__ import annotations

import asyncio
import json

import httpx

from bot.bench_soak import print_soak, soak


def fake_app():
    """The web chat API's two routes; every fourth message answers 503."""
    seen = {"messages": 0, "refused": 0, "conversations": 0}

    async def handle(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.002)  # a network round trip
        if request.url.path == "/api/conversations":
            seen["conversations"] += 1
            return httpx.Response(200, json={"conversation_id": f"c{seen['conversations']}", "token": "t"})
        assert request.url.path == "/api/messages"
        assert request.headers["X-Conversation-Token"] == "t"
        assert json.loads(request.content)["text"]
        seen["messages"] += 1
        if seen["messages"] % 4 == 0:
            seen["refused"] += 1
            return httpx.Response(503, json={"detail": "bận"})
        return httpx.Response(200, json={"messages": [{"text": "ok"}]})

    return httpx.MockTransport(handle), seen


async def test_failed_turns_are_counted_and_the_run_goes_on(capsys):
    transport, seen = fake_app()
    result = await soak("http://bot.test", {}, seconds=1.2, concurrency=3, turns=10, interval=0.4,
                        transport=transport)
    assert seen["refused"] >= 3
    assert result["failed"] == seen["refused"]
    assert result["turns"] == seen["messages"] - seen["refused"]
    assert len(result["rows"]) >= 3 and sum(r["failed"] for r in result["rows"]) <= result["failed"]
    # a refused turn ends that conversation: the citizen starts a new one
    assert seen["conversations"] > 3
    print_soak(result, 1.2, 3)
    out = capsys.readouterr().out
    assert f"{result['failed']} failed" in out and "run shorter than 10 min" in out

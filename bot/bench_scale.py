"""``make bench``: Rasa's horizontal scaling, and what a long conversation costs a turn.

1. ``print_scale_figure``: 10-turn conversations through the bot app at 8 concurrent with 1
   and then 2 Rasa processes, both on a PostgreSQL tracker store and a Redis lock store
   (servers started here from Debian's packages, as the tests do: ``tests/servers.py``), each
   on a fresh database: turns/s, p50/p95 and the scaling factor from 1 to 2 processes.
2. ``print_turn_cost``: one conversation of 500 turns on the running stack: the median
   latency of the five turns up to turn 10, 100 and 500 (Rasa replays the tracker's events
   each turn; the tracker cache spares the database reads, not the replay).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from bot import settings

MARKS = (10, 100, 500)


async def _long_conversation(base_url: str, turns: int) -> list[float]:
    from bot.benchmark import CONVERSATION, _new_web_conversation

    latencies = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        conversation_id, headers = await _new_web_conversation(client)
        for number in range(turns):
            start = time.perf_counter()
            response = await client.post("/api/messages", headers=headers, json={
                "conversation_id": conversation_id, "text": CONVERSATION[number % len(CONVERSATION)]})
            response.raise_for_status()
            latencies.append(time.perf_counter() - start)
    return latencies


def turn_cost(base_url: str, marks: tuple[int, ...] = MARKS) -> dict[int, float]:
    """Median ms of the five turns up to each mark of one conversation of ``max(marks)`` turns."""
    latencies = asyncio.run(_long_conversation(base_url, max(marks)))
    return {mark: 1000 * statistics.median(latencies[max(0, mark - 5):mark]) for mark in marks}


def print_turn_cost(base_url: str) -> None:
    cost = turn_cost(base_url)
    print("\n== Turn cost along one conversation (median of 5 turns, ms) ==")
    print("  ".join(f"turn {mark}: {ms:.1f}" for mark, ms in cost.items()))


def scale_figures(processes: tuple[int, ...] = (1, 2), conversations: int = 16, turns: int = 10) -> list[dict]:
    from bot.benchmark import dialogue_load
    from bot.processes import Stack, free_port, free_ports
    from tests.servers import create_database, postgres_server, redis_server

    results = []
    with postgres_server() as server, redis_server() as redis_url:
        for count in processes:
            with tempfile.TemporaryDirectory() as data_dir:
                config = replace(settings.load(), port=free_port(), rasa_port=free_ports(count),
                                 actions_port=free_port(), data_dir=Path(data_dir), rasa_processes=count,
                                 database_url=create_database(server, f"bench_{count}"), redis_url=redis_url,
                                 secret_override=secrets.token_urlsafe(32))
                env = {"RATE_LIMIT_PER_MINUTE": "0", "CONVERSATION_RATE_PER_MINUTE": "0", "OFFICE_HOURS": "always"}
                with Stack(config, extra_env=env) as stack:
                    stack.start()
                    asyncio.run(dialogue_load(stack.base_url, 2, 4, turns, "warmup"))
                    result = asyncio.run(dialogue_load(stack.base_url, 8, conversations, turns, "scale"))
                    results.append({"processes": count, **result})
    return results


def print_scale_figure() -> None:
    results = scale_figures()
    print("\n== Rasa processes on PostgreSQL + Redis (10-turn conversations, 8 concurrent) ==")
    print(f"{'processes':>10} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'turns/s':>8}")
    for r in results:
        print(f"{r['processes']:>10} {r['turns']:>6} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['turns_per_s']:8.1f}")
    if len(results) == 2:
        print(f"scaling factor 1 → 2 processes: {results[1]['turns_per_s'] / results[0]['turns_per_s']:.2f}×")

"""The long run of ``make bench`` (issue: scale-out and speed): memory and speed over minutes.

``concurrency`` citizens (default 8) talk to the whole stack through the web chat API without a
pause, each one ``turns``-turn conversation after another, for ``seconds`` (default 600: the
issue's ten minutes), with the whole national catalogue loaded (the default catalogue). Every
minute: turns answered, turns/s and p95 of that minute, failed turns, and the resident memory of
each process; at the end the total against the target (< 1.5 GB after ten minutes).

A failed turn (an error status, a timeout, a dropped connection) is counted, not raised: the run
goes on, and the figure says how many.

Part of ``python -m bot bench`` (``--soak-seconds``, 0 skips it); standalone::

    python -m bot.bench_soak --seconds 600 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from bot.benchmark import CONVERSATION, _new_web_conversation, latency_summary, rss_mb

MEMORY_TARGET_MB = 1500.0


def memory(processes: dict) -> dict[str, float]:
    """RSS in MB of each process of the stack (with its children, e.g. uvicorn's workers)."""
    return {name: rss_mb(process.pid) for name, process in processes.items()}


async def soak(base_url: str, processes: dict, seconds: float, concurrency: int = 8, turns: int = 10,
               interval: float = 60.0, transport: httpx.AsyncBaseTransport | None = None) -> dict:
    """Run the load for ``seconds``; returns ``{"rows": [per interval], "turns", "failed",
    "start_mb", "end_mb"}``. Each row: ``{"minute", "turns", "turns_per_s", "p95_ms", "failed", "mb"}``."""
    deadline = time.monotonic() + seconds
    window: list[float] = []
    failed = {"window": 0, "all": 0}
    counted = {"turns": 0}

    async def citizen(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            try:
                conversation_id, headers = await _new_web_conversation(client)
            except httpx.HTTPError:
                failed["window"] += 1
                failed["all"] += 1
                await asyncio.sleep(0.5)
                continue
            for i in range(turns):
                if time.monotonic() >= deadline:
                    return
                start = time.perf_counter()
                try:
                    response = await client.post("/api/messages", headers=headers, json={
                        "conversation_id": conversation_id, "text": CONVERSATION[i % len(CONVERSATION)]})
                    response.raise_for_status()
                except httpx.HTTPError:
                    failed["window"] += 1
                    failed["all"] += 1
                    break
                window.append(time.perf_counter() - start)
                counted["turns"] += 1

    rows: list[dict] = []
    start_mb = memory(processes)

    async def sampler() -> None:
        started = last = time.monotonic()
        while True:
            await asyncio.sleep(max(0.0, min(interval, deadline - time.monotonic())))
            now = time.monotonic()
            latencies, window[:] = list(window), []
            row = {"minute": (now - started) / 60, "failed": failed["window"], "mb": memory(processes)}
            failed["window"] = 0
            row.update(latency_summary(latencies, now - last) if latencies
                       else {"turns": 0, "turns_per_s": 0.0, "p95_ms": 0.0, "p50_ms": 0.0})
            rows.append(row)
            last = now
            if now >= deadline:
                return

    async with httpx.AsyncClient(base_url=base_url, timeout=60, transport=transport) as client:
        await asyncio.gather(sampler(), *(citizen(client) for _ in range(concurrency)))
    return {"rows": rows, "turns": counted["turns"], "failed": failed["all"], "start_mb": start_mb,
            "end_mb": rows[-1]["mb"] if rows else start_mb}


def print_soak(result: dict, seconds: float, concurrency: int) -> None:
    names = list(result["start_mb"])
    print(f"\n== Long run: {concurrency} concurrent for {seconds / 60:.0f} min, whole national catalogue ==")
    print(f"{'minute':>6} {'turns':>6} {'turns/s':>8} {'p95 ms':>8} {'failed':>7} " + " ".join(f"{n + ' MB':>10}" for n in names)
          + f" {'total MB':>9}")
    print(f"{0:6.1f} {'':>6} {'':>8} {'':>8} {'':>7} " + " ".join(f"{result['start_mb'][n]:10.0f}" for n in names)
          + f" {sum(result['start_mb'].values()):9.0f}")
    for row in result["rows"]:
        print(f"{row['minute']:6.1f} {row['turns']:>6} {row['turns_per_s']:8.1f} {row['p95_ms']:8.1f} {row['failed']:>7} "
              + " ".join(f"{row['mb'].get(n, 0.0):10.0f}" for n in names) + f" {sum(row['mb'].values()):9.0f}")
    total = sum(result["end_mb"].values())
    verdict = "met" if total < MEMORY_TARGET_MB and seconds >= 600 else (
        "NOT met" if total >= MEMORY_TARGET_MB else "run shorter than 10 min")
    print(f"{result['turns']} turns, {result['failed']} failed; memory at the end {total:.0f} MB "
          f"(target < {MEMORY_TARGET_MB:.0f} MB after 10 min: {verdict})")


def print_soak_figure(stack, seconds: float, concurrency: int = 8, turns: int = 10) -> dict:
    result = asyncio.run(soak(stack.base_url, stack.processes, seconds, concurrency, turns))
    print_soak(result, seconds, concurrency)
    return result


def main(argv: list[str] | None = None) -> None:
    from bot.benchmark import bench_stack

    parser = argparse.ArgumentParser(prog="python -m bot.bench_soak")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    args = parser.parse_args(argv)
    with bench_stack() as (stack, _platforms):
        print_soak_figure(stack, args.seconds, args.concurrency, args.turns)


if __name__ == "__main__":
    main()

"""``make bench``'s reference: a stock Rasa ``rasa init`` bot, built and started here, in the same run.

Issue 13's target is relative: throughput at 8 concurrent ≥ 1.2× a stock ``rasa init`` bot's,
measured in the same run on the same machine (numbers vary between machines and runs), with p95
under 150 ms. This module builds that reference and measures it exactly like our dialogue bench:

1. ``build_stock``: ``rasa init --no-prompt --init-dir <temporary folder>``, then the policies of its
   ``config.yml`` set to the issue's "rules + memoization" (MemoizationPolicy, RulePolicy; the
   generated file leaves ``policies:`` empty, whose defaults add TEDPolicy and UnexpecTEDIntentPolicy;
   the NLU pipeline stays Rasa's default) and ``rasa train`` in the folder; the project and its
   model are kept under ``build/bench-stock/rasa-<version>-rules-memoization/``, so later runs with
   the same Rasa version reuse them (``--rebuild`` trains again).
2. ``StockBot``: ``rasa run --enable-api`` on a free loopback port with the init project's own
   ``endpoints.yml`` (in-memory tracker store, no action server) and ``credentials.yml`` (REST
   channel), from a temporary folder; ready when ``GET /`` answers; stopped with SIGTERM.
3. ``stock_load``: ``bot.benchmark.dialogue_load`` (same conversation counts, same p50/p95 and
   turns/s) with conversations of the init bot's own example sentences through
   ``POST /webhooks/rest/webhook``.

Rasa runs as ``python -m rasa`` of this venv, with the environment ``bot.training`` gives it
(telemetry off, TensorFlow quiet) and at INFO (it logs message texts only at DEBUG; these texts
are made up anyway). Its output goes to ``build/bench-stock/logs/``. Any failure (training,
start-up, a turn) is reported in one line and the bench goes on.

``python -m bot.bench_stock [--turns N] [--conversations N] [--rebuild]`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx

from bot.settings import ROOT

CACHE = ROOT / "build" / "bench-stock"
LOGS = CACHE / "logs"
MODEL_NAME = "stock"
# Issue 13 describes the reference as "rules + memoization, in-memory store, no action server": the
# init project as generated, its policies set to these two (``set_policies``), its pipeline Rasa's default.
POLICIES = ("MemoizationPolicy", "RulePolicy")
VARIANT = "rules-memoization"   # part of the cache folder's name
TRAIN_TIMEOUT = 1800.0   # seconds; the init project trains in 1–3 minutes on 2 cores
START_TIMEOUT = 240.0
TARGET_RATIO = 1.2       # issue 13: throughput at 8 concurrent ≥ 1.2× stock's
TARGET_P95_MS = 150.0    # issue 13: p95 at 8 concurrent < 150 ms

# The init bot's own training examples (rasa/cli/initial_project/data/nlu.yml), (text, intent).
# Rules + memoization answer a story only from its start: each conversation is one of the init
# project's three stories, then its two rules (bot challenge, goodbye) to ten turns, so every turn
# gets an answer; conversations take the three stories in turn (by their number).
_RULE_TURNS = [("are you a bot?", "bot_challenge"), ("bye", "goodbye"), ("am I talking to a bot?", "bot_challenge"),
               ("goodbye", "goodbye"), ("are you a human?", "bot_challenge"), ("see you around", "goodbye"),
               ("am I talking to a human?", "bot_challenge"), ("have a nice day", "goodbye")]
STORIES = [
    [("hello", "greet"), ("great", "mood_great")],                                     # happy path
    [("hey there", "greet"), ("I am sad", "mood_unhappy"), ("yes", "affirm")],         # sad path 1
    [("good morning", "greet"), ("unhappy", "mood_unhappy"), ("no", "deny")],          # sad path 2
]
CONVERSATIONS = [[text for text, _ in story + _RULE_TURNS][:10] for story in STORIES]
INTENTS = [[intent for _, intent in story + _RULE_TURNS][:10] for story in STORIES]


def conversation_texts(name: str) -> list[str]:
    """The texts of conversation ``name`` (``dialogue_load`` numbers them: "bench-run-8-5")."""
    number = name.rsplit("-", 1)[-1]
    return CONVERSATIONS[int(number) % len(CONVERSATIONS) if number.isdigit() else 0]


class StockError(RuntimeError):
    """The stock bot could not be built or started (the message says why, in one line)."""


def rasa_version() -> str:
    return metadata.version("rasa")


def rasa_env() -> dict[str, str]:
    """What ``bot.training`` runs Rasa with, at INFO."""
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1"}


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else ""


def _rasa(args: list[str], cwd: Path, log: Path, timeout: float) -> None:
    """``python -m rasa ARGS`` in ``cwd``, output to ``log``; raises StockError if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rasa", *args], cwd=cwd, env=rasa_env(),
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise StockError(f"rasa {args[0]} did not finish in {timeout:.0f} s (log: {log})") from None
        except BaseException:   # Ctrl-C: no Rasa left behind
            _kill_group(process)
            raise
    if code != 0:
        raise StockError(f"rasa {args[0]} exited with code {code}: {_last_line(log)} (log: {log})")


def cached_project(cache: Path = CACHE, version: str | None = None) -> Path:
    return cache / f"rasa-{version or rasa_version()}-{VARIANT}"


def set_policies(config: Path) -> None:
    """The init project's ``config.yml`` with issue 13's reference policies (rules + memoization)
    instead of an empty ``policies:`` (Rasa's defaults, which add TEDPolicy and UnexpecTEDIntentPolicy);
    the NLU pipeline stays ``null``: Rasa's default."""
    from rasa.shared.utils.io import read_config_file

    if read_config_file(config).get("policies") is not None:
        raise StockError(f"rasa init wrote a config.yml whose policies are set: {config}")
    lines = config.read_text(encoding="utf-8").splitlines()
    empty = [i for i, line in enumerate(lines) if line.rstrip() in ("policies:", "policies: null")]
    if len(empty) != 1:
        raise StockError(f"rasa init wrote a config.yml without an empty `policies:`: {config}")
    lines[empty[0]] = "policies:\n" + "".join(f"  - name: {name}\n" for name in POLICIES).rstrip()
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_stock(cache: Path = CACHE, rebuild: bool = False, timeout: float = TRAIN_TIMEOUT) -> Path:
    """The stock init project with its trained model (``models/stock.tar.gz``), built once per
    Rasa version under ``cache``. Raises StockError when Rasa fails."""
    target = cached_project(cache)
    if not rebuild and (target / "models" / f"{MODEL_NAME}.tar.gz").is_file():
        return target
    logs = cache / "logs"
    with tempfile.TemporaryDirectory(prefix="bench-stock-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        _rasa(["init", "--no-prompt", "--init-dir", str(project)], Path(tmp), logs / "init.log", timeout)
        for model in (project / "models").glob("*.tar.gz"):   # trained by init with TED: not the reference
            model.unlink()
        set_policies(project / "config.yml")
        _rasa(["train", "--fixed-model-name", MODEL_NAME, "--out", "models"], project, logs / "train.log", timeout)
        if not (project / "models" / f"{MODEL_NAME}.tar.gz").is_file():
            raise StockError(f"rasa trained no model (logs: {logs})")
        staging = cache / f".{target.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(project, staging, ignore=shutil.ignore_patterns(".rasa", "__pycache__"))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target


def _kill_group(process: subprocess.Popen, grace: float = 30) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class StockBot:
    """``rasa run --enable-api`` of the stock init project on a free loopback port."""

    project: Path
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path = LOGS / "run.log"
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> "StockBot":
        from bot.processes import free_port

        self.port = self.port or free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-stock-run-")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # The API's token is random and dies with this throwaway bot (the API is not used).
        command = [sys.executable, "-m", "rasa", "run", "--enable-api", "--auth-token", secrets.token_urlsafe(16),
                   "-i", "127.0.0.1", "-p", str(self.port),
                   "--model", str(self.project / "models" / f"{MODEL_NAME}.tar.gz"),
                   "--endpoints", str(self.project / "endpoints.yml"),
                   "--credentials", str(self.project / "credentials.yml")]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=self._tmp.name, env=rasa_env(), stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise StockError(f"rasa run exited with code {self.process.returncode}: {_last_line(self.log)} "
                                 f"(log: {self.log})")
            try:
                if httpx.get(f"{self.base_url}/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StockError(f"rasa run did not answer GET / within {timeout:.0f} s (log: {self.log})")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            _kill_group(self.process)
            self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def say(self, sender: str, message: str) -> list[dict]:
        """One turn through the REST channel: the bot's messages."""
        response = httpx.post(f"{self.base_url}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                              timeout=60)
        response.raise_for_status()
        return response.json()

    def __enter__(self) -> "StockBot":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def rest_conversation(client: httpx.AsyncClient, name: str, turns: int, latencies: list[float],
                            silent: list[int] | None = None) -> None:
    """One conversation through Rasa's REST channel (``dialogue_load``'s ``conversation``);
    turns without any bot message are counted in ``silent[0]``."""
    texts = conversation_texts(name)
    for i in range(turns):
        start = time.perf_counter()
        response = await client.post("/webhooks/rest/webhook", json={"sender": name, "message": texts[i % len(texts)]})
        response.raise_for_status()
        latencies.append(time.perf_counter() - start)
        if silent is not None and not response.json():
            silent[0] += 1


async def stock_load(base_url: str, concurrency: int, conversations: int, turns: int, tag: str,
                     silent: list[int] | None = None) -> dict:
    """``bot.benchmark.dialogue_load`` through the stock bot's REST channel."""
    from bot.benchmark import dialogue_load

    async def conversation(client, name, turns, latencies):
        await rest_conversation(client, name, turns, latencies, silent)

    return await dialogue_load(base_url, concurrency, conversations, turns, tag, conversation=conversation)


def measure(bot: StockBot, turns: int = 10, conversations: int = 16) -> dict[int, dict]:
    """Warm-up, then 1 and 8 concurrent with the dialogue bench's conversation counts."""
    from bot.benchmark import level_conversations

    asyncio.run(stock_load(bot.base_url, 1, 2, turns, "warmup"))
    levels = {}
    for concurrency in (1, 8):
        silent = [0]
        levels[concurrency] = asyncio.run(stock_load(bot.base_url, concurrency,
                                                     level_conversations(concurrency, conversations), turns,
                                                     "run", silent))
        levels[concurrency]["silent"] = silent[0]
    return levels


def run_stock(turns: int = 10, conversations: int = 16, rebuild: bool = False) -> dict[int, dict] | None:
    """Build (or reuse), start, measure and stop the stock bot; prints its table and returns
    {concurrency: figures}, or prints why in one line and returns None."""
    print(f"\n== Stock `rasa init` bot (Rasa {rasa_version()}, {' + '.join(POLICIES)}, REST channel, in-memory "
          f"tracker store, no action server; {turns}-turn conversations) ==", flush=True)
    try:
        started = time.monotonic()
        project = build_stock(rebuild=rebuild)
        built = time.monotonic() - started
        with StockBot(project) as bot:
            levels = measure(bot, turns, conversations)
    except Exception as error:   # the bench goes on without the reference
        reason = " ".join(str(error).split()) or type(error).__name__
        print(f"Stock bot not measured: {type(error).__name__}: {reason}", flush=True)
        return None
    if built > 5:
        print(f"(built and trained in {built:.0f} s; cached in {project.relative_to(ROOT)})")
    print(f"{'concurrent':>10} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'turns/s':>8} {'no reply':>9}")
    for concurrency, r in levels.items():
        print(f"{concurrency:>10} {r['turns']:>6} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['turns_per_s']:8.1f} "
              f"{r['silent']:>9}")
    return levels


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_comparison(ours: dict[int, dict], stock: dict[int, dict] | None) -> None:
    """Ours (through the bot app) vs stock (Rasa alone) at 1 and 8 concurrent, and issue 13's targets."""
    print("\n== Ours vs stock `rasa init` (same run; ours through the bot app, stock through Rasa's REST channel) ==")
    print(f"{'concurrent':>10} {'ours p50':>9} {'p95':>7} {'turns/s':>8}   {'stock p50':>9} {'p95':>7} {'turns/s':>8}")
    for concurrency in (1, 8):
        o, s = ours.get(concurrency), (stock or {}).get(concurrency)
        left = f"{o['p50_ms']:9.1f} {o['p95_ms']:7.1f} {o['turns_per_s']:8.1f}" if o else f"{'-':>9} {'-':>7} {'-':>8}"
        right = f"{s['p50_ms']:9.1f} {s['p95_ms']:7.1f} {s['turns_per_s']:8.1f}" if s else f"{'-':>9} {'-':>7} {'-':>8}"
        print(f"{concurrency:>10} {left}   {right}")
    o8, s8 = ours.get(8), (stock or {}).get(8)
    if o8 and s8:
        ratio = o8["turns_per_s"] / s8["turns_per_s"]
        print(f"Throughput at 8 concurrent: ours {o8['turns_per_s']:.1f} / stock {s8['turns_per_s']:.1f} turns/s = "
              f"{ratio:.2f}× (target ≥ {TARGET_RATIO:.1f}×: {_verdict(ratio >= TARGET_RATIO)})")
    else:
        print(f"Throughput at 8 concurrent vs stock: not measured (target ≥ {TARGET_RATIO:.1f}×)")
    if o8:
        print(f"p95 at 8 concurrent: ours {o8['p95_ms']:.1f} ms (target < {TARGET_P95_MS:.0f} ms: "
              f"{_verdict(o8['p95_ms'] < TARGET_P95_MS)})" + (f"; stock {s8['p95_ms']:.1f} ms" if s8 else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.bench_stock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--conversations", type=int, default=16,
                        help="conversations at 8 concurrent (a quarter, at least 2, for one stream)")
    parser.add_argument("--rebuild", action="store_true", help="run `rasa init` and train again")
    args = parser.parse_args(argv)
    if run_stock(args.turns, args.conversations, args.rebuild) is None:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""``python -m bot bench``: NLU accuracy, dialogue-turn latency and throughput, memory.

1. Intent and procedure accuracy on two held-out sets, never used for training, each as
   written and with diacritics stripped: the project's own tests/data/nlu_eval.yml and the
   independent tests/data/nlu_independent.yml (written apart from the training data, with
   issue 9's patterns). Per intent precision/recall/F1, the most frequent confusions, the
   share of out-of-scope questions recognised, and lost/expired documents taken as status.
   Then finding the procedure among the whole catalogue (``bot.bench_retrieval``): accuracy on
   tests/data/retrieval_eval.yml through the trained NLU and through the retrieval alone, time
   per message, catalogue load, index build, extra memory, and the import of the whole file.
2. Time to render a prefilled form as PDF.
3. Dialogue turns through the bot app's HTTP API with all three processes running,
   at 1 and 8 concurrent conversations of ``--turns`` turns: p50/p95 latency, turns/s;
   then the same for whole draft-dossier forms (passport, ~20 turns each).
   The turn cost at turn 10, 100 and 500 of one conversation; 1 and 2 Rasa processes on
   PostgreSQL + Redis and the scaling factor (``bot.bench_scale``). Right after our stack stops,
   a stock ``rasa init`` bot built and started in the same run (``bot.bench_stock``; skip it with
   ``--skip-stock``) at 1 and 8 concurrent, ours vs stock, and issue 13's targets: throughput at
   8 concurrent ≥ 1.2× stock's, p95 < 150 ms.
4. Resident memory of the three processes; a model swap (``PUT /model``) under 8 concurrent
   conversations (``bot.bench_models``): failed and busy answers.
5. Retraining after 20 new examples: fine-tuning vs a full training, wall time and held-out
   accuracy (``bot.bench_models``, README "Retraining").
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import yaml

from bot import settings
from bot.settings import ROOT
from bot.vntext import strip_diacritics

EVAL_FILE = ROOT / "tests" / "data" / "nlu_eval.yml"
INDEPENDENT_FILE = ROOT / "tests" / "data" / "nlu_independent.yml"
EVAL_FILES = (EVAL_FILE, INDEPENDENT_FILE)
CONVERSATION = [
    "chào bạn",
    "lam ho chieu can giay to gi",
    "thế còn lệ phí?",
    "mất bao lâu thì có",
    "nộp ở đâu vậy",
    "có làm online được không",
    "còn đăng ký tạm trú thì cần gì",
    "lệ phí bao nhiêu",
    "cảm ơn nhé",
    "tạm biệt",
]


# A made-up applicant (not a real person) for the form benchmark and tests.
SAMPLE_ANSWERS = {
    "full_name": "nguyễn  thị hồng NHUNG", "sex": "nữ", "birth_date": "12/3/1990", "birth_place": "Hà Nội",
    "personal_id": "001190012345", "ethnicity": "Kinh", "religion": "Không", "phone": "0912 345 678",
    "permanent_address": "12 Lý Thường Kiệt, phường Hoàn Kiếm, Hà Nội", "occupation": "Giáo viên",
    "father_name": "Nguyễn Văn Hùng", "father_birth_date": "1/1/1960", "mother_name": "Trần Thị Lan",
    "mother_birth_date": "2 tháng 5 năm 1962",
}


def sample_reply(field: str | None) -> str:
    """What the sample applicant answers to ``field`` (first choice, or skip an optional one)."""
    return SAMPLE_ANSWERS.get(field) or ("1" if field in ("request", "chip") else "bỏ qua")


def load_eval(path: Path = EVAL_FILE) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["examples"]


def nlu_scores(parser, examples: list[dict]) -> dict:
    """Accuracy of intent and procedure, as written and without diacritics.

    Each variant also keeps ``rows``: (expected intent, got intent, expected procedure, got
    procedure, pattern, fallback) per example, for :func:`intent_report` and :func:`pattern_report`.
    """
    scores = {}
    for variant, transform in (("có dấu (as written)", lambda t: t), ("không dấu (stripped)", strip_diacritics)):
        intents = procedures = 0
        errors, rows = [], []
        start = time.perf_counter()
        for example in examples:
            result = parser.parse(transform(example["text"]))
            intent_ok = result["intent"] == example["intent"]
            procedure_ok = result["procedure"] == example.get("procedure")
            intents += intent_ok
            procedures += procedure_ok
            rows.append((example["intent"], result["intent"], example.get("procedure"), result["procedure"],
                         example.get("pattern"), bool(result.get("fallback"))))
            if not (intent_ok and procedure_ok):
                errors.append((transform(example["text"]), example["intent"], result["intent"],
                               example.get("procedure"), result["procedure"]))
        elapsed = time.perf_counter() - start
        scores[variant] = {"intent": intents / len(examples), "procedure": procedures / len(examples),
                           "ms_per_parse": 1000 * elapsed / len(examples), "errors": errors, "rows": rows}
    return scores


def intent_report(rows: list[tuple]) -> dict[str, dict]:
    """Precision, recall, F1 and support per expected intent."""
    report = {}
    for intent in sorted({r[0] for r in rows}):
        tp = sum(1 for r in rows if r[0] == intent and r[1] == intent)
        predicted = sum(1 for r in rows if r[1] == intent)
        support = sum(1 for r in rows if r[0] == intent)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[intent] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return report


def confusions(rows: list[tuple], top: int = 12) -> list[tuple[str, str, int]]:
    """The most frequent (expected → got) intent confusions."""
    counts = Counter((r[0], r[1]) for r in rows if r[0] != r[1])
    return [(e, g, n) for (e, g), n in counts.most_common(top)]


def pattern_report(rows: list[tuple]) -> dict:
    """Issue 9's targets: out-of-scope recognised, lost/expired documents taken as a status check,
    and intent + procedure accuracy per tagged pattern."""
    oos = [r for r in rows if r[0] == "out_of_scope"]
    lost = [r for r in rows if r[4] == "lost_document"]
    patterns = {}
    for pattern in sorted({r[4] for r in rows if r[4]}):
        tagged = [r for r in rows if r[4] == pattern]
        patterns[pattern] = {"n": len(tagged),
                             "intent": sum(r[0] == r[1] for r in tagged) / len(tagged),
                             "both": sum(r[0] == r[1] and r[2] == r[3] for r in tagged) / len(tagged)}
    return {
        "out_of_scope": len(oos),
        "out_of_scope_recognised": sum(1 for r in oos if r[1] == "out_of_scope"),
        "out_of_scope_answered": sum(1 for r in oos if r[1] == "out_of_scope" and not r[5]),
        "lost": len(lost),
        "lost_as_status": sum(1 for r in lost if r[1] == "check_status"),
        "patterns": patterns,
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


async def _new_web_conversation(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A conversation of the web chat API (``POST /api/conversations``): its id and token header."""
    response = await client.post("/api/conversations")
    response.raise_for_status()
    body = response.json()
    return body["conversation_id"], {"X-Conversation-Token": body["token"]}


async def _conversation(client: httpx.AsyncClient, name: str, turns: int, latencies: list[float]) -> None:
    conversation_id, headers = await _new_web_conversation(client)
    for i in range(turns):
        text = CONVERSATION[i % len(CONVERSATION)]
        start = time.perf_counter()
        response = await client.post("/api/messages", json={"conversation_id": conversation_id, "text": text},
                                     headers=headers)
        response.raise_for_status()
        latencies.append(time.perf_counter() - start)


def level_conversations(concurrency: int, conversations: int) -> int:
    """How many conversations the dialogue bench runs at ``concurrency`` (``--conversations``
    at 8 concurrent, a quarter of it, at least 2, for a single stream)."""
    return max(concurrency, conversations if concurrency > 1 else max(2, conversations // 4))


def latency_summary(latencies: list[float], elapsed: float) -> dict:
    """turns, p50/p95 ms and turns/s of turn latencies (seconds) measured over ``elapsed`` seconds."""
    return {"turns": len(latencies), "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 95), "turns_per_s": len(latencies) / elapsed}


async def dialogue_load(base_url: str, concurrency: int, conversations: int, turns: int, tag: str,
                        conversation=_conversation) -> dict:
    """``conversations`` conversations of ``turns`` turns, ``concurrency`` at a time.
    ``conversation(client, name, turns, latencies)`` runs one (default: the bot app's web chat API;
    ``bot.bench_stock`` passes Rasa's REST channel)."""
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await conversation(client, f"bench-{tag}-{concurrency}-{i}", turns, latencies)

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(conversations)))
        elapsed = time.perf_counter() - start
    return latency_summary(latencies, elapsed)


async def _form_conversation(client: httpx.AsyncClient, name: str, store, latencies: list[float]) -> None:
    text = "tôi muốn làm hộ chiếu"
    conversation_id, headers = await _new_web_conversation(client)
    for _ in range(40):
        start = time.perf_counter()
        response = await client.post("/api/messages", json={"conversation_id": conversation_id, "text": text},
                                     headers=headers)
        response.raise_for_status()
        latencies.append(time.perf_counter() - start)
        draft = store.load_draft(conversation_id)
        if draft is None or draft.current_field == "__confirm__":
            return
        text = sample_reply(draft.current_field)


async def form_load(base_url: str, store, concurrency: int, tag: str) -> dict:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(_form_conversation(client, f"form-{tag}-{i}", store, latencies)
                               for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"turns": len(latencies), "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 95), "turns_per_s": len(latencies) / elapsed}


def pdf_timing(runs: int = 20) -> dict:
    """Time to render the passport form (TK01) as PDF."""
    import datetime as dt

    from bot.dossiers import FormSession, render_pdf

    session = FormSession("ho-chieu", today=dt.date(2026, 11, 23))
    answers: dict = {}
    while (field := session.next_field(answers)) is not None:
        answers = session.apply_answer(field.key, sample_reply(field.key), answers)
    form = session.form_for(answers)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        pdf = render_pdf(form, answers, "HS-2026-000001")
        times.append(time.perf_counter() - start)
    return {"p50_ms": 1000 * statistics.median(times), "p95_ms": 1000 * percentile(times, 95), "bytes": len(pdf)}


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pids.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def print_nlu(scores: dict, examples: int, path: Path = EVAL_FILE, detail: bool = True) -> None:
    print(f"\n== NLU on {examples} held-out questions ({path.relative_to(ROOT)}) ==")
    print(f"{'variant':24} {'intent':>8} {'procedure':>10} {'ms/parse':>9} {'oos→oos':>8} {'lost→status':>12}")
    for variant, s in scores.items():
        p = pattern_report(s["rows"]) if "rows" in s else None
        oos = f"{p['out_of_scope_recognised'] / p['out_of_scope']:.0%}" if p and p["out_of_scope"] else "-"
        lost = f"{p['lost_as_status']}/{p['lost']}" if p and p["lost"] else "-"
        print(f"{variant:24} {s['intent']:8.1%} {s['procedure']:10.1%} {s['ms_per_parse']:9.1f} {oos:>8} {lost:>12}")
    if not detail:
        return
    for variant, s in scores.items():
        if "rows" not in s:
            continue
        report = intent_report(s["rows"])
        print(f"\nPer intent ({variant}):")
        print(f"  {'intent':18} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
        for intent, r in report.items():
            print(f"  {intent:18} {r['precision']:6.0%} {r['recall']:6.0%} {r['f1']:6.2f} {r['support']:4}")
        print("  Confusions (expected → got: count): " +
              (", ".join(f"{e} → {g}: {n}" for e, g, n in confusions(s["rows"])) or "none"))
        p = pattern_report(s["rows"])
        if p["out_of_scope"]:
            print(f"  Out of scope recognised: {p['out_of_scope_recognised']}/{p['out_of_scope']}"
                  f" ({p['out_of_scope_answered']} above the fallback threshold)")
        if p["patterns"]:
            print("  Patterns (intent / intent+procedure): " + ", ".join(
                f"{name} {v['intent']:.0%}/{v['both']:.0%} (n={v['n']})" for name, v in p["patterns"].items()))
    for variant, s in scores.items():
        print(f"\nErrors ({variant}), text | expected intent → got | expected procedure → got:")
        for text, ei, gi, ep, gp in s["errors"][:40]:
            print(f"  {text[:70]!r} | {ei} → {gi} | {ep} → {gp}")


def run_nlu(parser, paths=EVAL_FILES, detail: bool = True) -> dict:
    """Score and print every evaluation file; returns {path: scores}."""
    results = {}
    for path in paths:
        examples = load_eval(path)
        results[path] = nlu_scores(parser, examples)
        print_nlu(results[path], len(examples), path, detail)
    return results


@contextmanager
def bench_stack():
    """The whole stack (app, Rasa, action server) on free ports in a temporary data directory,
    with loopback fake Telegram and Zalo servers and no rate limits: yields (stack, platforms)."""
    from bot.bench_channels import fake_platforms
    from bot.processes import Stack, free_port

    with tempfile.TemporaryDirectory() as data_dir:
        config = replace(settings.load(), port=free_port(), rasa_port=free_port(), actions_port=free_port(),
                         data_dir=Path(data_dir))
        with fake_platforms() as platforms, Stack(config, extra_env={
                **platforms["env"], "RATE_LIMIT_PER_MINUTE": "0", "CONVERSATION_RATE_PER_MINUTE": "0",
                "OFFICE_HOURS": "always"}) as stack:
            stack.start()
            yield stack, platforms


def run_dialogue(args) -> dict[int, dict]:
    """Runs and prints section 3 on the whole stack; returns the dialogue turns' figures
    {concurrency: dialogue_load result} (for the comparison with stock Rasa)."""
    from bot.bench_channels import print_channel_latency

    ours: dict[int, dict] = {}
    with bench_stack() as (stack, platforms):
        config = stack.settings
        asyncio.run(dialogue_load(stack.base_url, 1, 2, args.turns, "warmup"))
        print(f"\n== Dialogue turns through the bot app ({args.turns}-turn conversations) ==")
        print(f"{'concurrent':>10} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'turns/s':>8}")
        for concurrency in (1, 8):
            count = level_conversations(concurrency, args.conversations)
            r = asyncio.run(dialogue_load(stack.base_url, concurrency, count, args.turns, "run"))
            ours[concurrency] = r
            print(f"{concurrency:>10} {r['turns']:>6} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['turns_per_s']:8.1f}")
        from bot.dossiers import DossierStore

        store = DossierStore(config.app_database)
        print("\n== Draft-dossier form turns (passport form, whole form per conversation) ==")
        print(f"{'concurrent':>10} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'turns/s':>8}")
        for concurrency in (1, 8):
            r = asyncio.run(form_load(stack.base_url, store, concurrency, "run"))
            print(f"{concurrency:>10} {r['turns']:>6} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['turns_per_s']:8.1f}")
        from bot.bench_scale import print_turn_cost

        print_turn_cost(stack.base_url)
        print_channel_latency(stack.base_url, platforms, args.turns)
        from bot.bench_handover import print_handover_latency

        print_handover_latency(stack.base_url, stack.settings)
        if getattr(args, "soak_seconds", 0) > 0:   # the long run, so the memory below is after it
            from bot.bench_soak import print_soak_figure

            print_soak_figure(stack, args.soak_seconds)
        print("\n== Memory (RSS) ==")
        total = 0.0
        for name, process in stack.processes.items():
            mb = rss_mb(process.pid)
            total += mb
            print(f"{name:10} {mb:8.0f} MB")
        print(f"{'total':10} {total:8.0f} MB")
        from bot.bench_models import print_swap_figure

        print_swap_figure(stack)   # last: afterwards Rasa holds a second model until it is collected
    return ours


def main(args) -> None:
    if not args.skip_nlu:
        from bot import bench_retrieval
        from bot.parse import Parser

        parser = Parser(settings.load().model)
        run_nlu(parser)
        bench_retrieval.run(bench_retrieval.ThroughModel(parser=parser), "through the trained NLU")
        bench_retrieval.run()
        bench_retrieval.print_figures()
    pdf = pdf_timing()
    print(f"\n== PDF (TK01, prefilled) ==\np50 {pdf['p50_ms']:.1f} ms, p95 {pdf['p95_ms']:.1f} ms, {pdf['bytes']} bytes")
    if not args.skip_dialogue:
        ours = run_dialogue(args)
        if not getattr(args, "skip_stock", False):
            from bot.bench_stock import print_comparison, run_stock

            print_comparison(ours, run_stock(turns=args.turns, conversations=args.conversations))
        if not getattr(args, "skip_scale", False):
            from bot.bench_scale import print_scale_figure

            print_scale_figure()
    if not getattr(args, "skip_faults", False):
        from bot.bench_faults import print_fault_figure

        print_fault_figure()
    if not getattr(args, "skip_retrain", False):
        from bot.bench_models import print_retrain_figure

        print_retrain_figure()

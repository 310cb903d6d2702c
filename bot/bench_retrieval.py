"""Benchmark of finding the procedure among the whole catalogue (issue: the national database).

Part of ``make bench`` (``bot/benchmark.py``); standalone without a model (the retrieval
with the hand-written aliases as evidence, no DIET spans, under a minute)::

    python -m bot.bench_retrieval            # accuracy, speed, load, memory, import
    python -m bot.bench_retrieval --model    # accuracy through the trained NLU (python -m bot parse)

Accuracy on ``tests/data/retrieval_eval.yml``: citizen-style questions about imported
procedures, written apart from the synonym table and never used for tuning. For each
question: *answered right* (the bot is sure and the procedure is the expected one or one the
file accepts), *right among the buttons* (the bot asks and offers it), *wrong answered* (the
bot is sure of another procedure: must stay near zero), *missed* (nothing found, or buttons
without it). Questions with ``code: null`` count as right when the bot answers no procedure.

Speed and size: catalogue load at start-up (hand-written + imported), the retrieval index
build, retrieval time per message (p50/p95), the extra memory of a process that holds the
catalogue and its index, and the import of the whole national file.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EVAL_FILE = ROOT / "tests" / "data" / "retrieval_eval.yml"
NATIONAL_FILE = ROOT / "procedures" / "national" / "national-2026-07.jsonl.gz"


def load_questions(path: Path = EVAL_FILE) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]


class RetrievalOnly:
    """The NLU's procedure step without the model: hand-written aliases as named evidence."""

    def __init__(self):
        from bot.nlu.matching import default_index
        from procedures import default_catalogue

        self.catalogue = default_catalogue()
        self.retriever = self.catalogue.retriever
        self.index = default_index()

    def resolve(self, text: str) -> tuple[str | None, list[str]]:
        from bot.vntext import normalize

        text = normalize(text)
        named: dict[str, int] = {}
        for m in self.index.find(text):
            named[m.procedure_id] = max(named.get(m.procedure_id, 0), len(m.text.split()))
        typos = {} if named else {m.procedure_id: m.text for m in self.index.find_fuzzy(text)}
        found = self.retriever.find(text, named, typos)
        procedure = self.catalogue.national_code(found.procedure.id) if found.procedure else None
        return procedure, [c.procedure.code for c in found.candidates]


class ThroughModel:
    """The trained NLU (as ``python -m bot parse``): procedure_code and candidates."""

    def __init__(self, model: Path | None = None, parser=None):
        from bot.parse import Parser

        self.parser = parser if parser is not None else Parser(model)

    def resolve(self, text: str) -> tuple[str | None, list[str]]:
        result = self.parser.parse(text)
        return result["procedure_code"], [c["code"] for c in result["candidates"]]


def accuracy(resolver, questions: list[dict]) -> dict:
    """Right, buttons, wrong and missed. A question about an imported record that a hand-written record
    ``covers`` ("Cấp thẻ căn cước cho người dưới 14 tuổi" in can-cuoc) is right when it gets that record."""
    from procedures import default_catalogue
    from procedures.loading import hand_written_codes

    catalogue = default_catalogue()
    covering = {code: catalogue.national_code(pid) for code, pid in hand_written_codes(catalogue).items()}
    counts = {"right": 0, "buttons": 0, "wrong": 0, "missed": 0, "null_right": 0, "null_wrong": 0, "null_asked": 0}
    wrong: list[tuple[str, str, str]] = []
    times: list[float] = []
    for q in questions:
        start = time.perf_counter()
        code, offered = resolver.resolve(q["text"])
        times.append(time.perf_counter() - start)
        if q["code"] is None:
            key = "null_wrong" if code else ("null_asked" if offered else "null_right")
            counts[key] += 1
            if code:
                wrong.append((q["text"], "null", code))
            continue
        good = {q["code"], *(q.get("accept") or [])}
        good |= {covering[c] for c in good if c in covering}
        if code in good:
            counts["right"] += 1
        elif code:
            counts["wrong"] += 1
            wrong.append((q["text"], q["code"], code))
        elif good & set(offered):
            counts["buttons"] += 1
        else:
            counts["missed"] += 1
    times.sort()
    counts["answerable"] = sum(1 for q in questions if q["code"] is not None)
    counts["nulls"] = len(questions) - counts["answerable"]
    counts["procedures"] = len({q["code"] for q in questions if q["code"]})
    counts["p50_ms"] = times[len(times) // 2] * 1000 if times else 0.0
    counts["p95_ms"] = times[min(len(times) - 1, int(len(times) * 0.95))] * 1000 if times else 0.0
    counts["wrong_examples"] = wrong
    return counts


def print_accuracy(result: dict, title: str) -> None:
    n, nulls = result["answerable"], result["nulls"]
    share = lambda k, d: f"{result[k]:>4} ({result[k] / d:6.1%})" if d else f"{result[k]:>4}"  # noqa: E731
    print(f"\n== Finding the procedure: {title} ==")
    print(f"{n} questions about {result['procedures']} imported procedures, {nulls} about nothing in the database")
    print(f"answered right          {share('right', n)}")
    print(f"right among the buttons {share('buttons', n)}")
    print(f"wrong procedure answered{share('wrong', n)}")
    print(f"missed                  {share('missed', n)}")
    print(f"nothing-in-database: nothing answered {share('null_right', nulls)}, "
          f"asked {result['null_asked']}, a procedure answered {result['null_wrong']}")
    print(f"time per message: p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms")
    for text, expected, got in result["wrong_examples"][:8]:
        print(f"  wrong: {text[:70]!r}: expected {expected}, answered {got}")


_MEMORY_PROBE = """
import sys, time
sys.path.insert(0, {root!r})
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import procedures, bot.vntext, sqlite_utils, yaml  # the imports the process has anyway
before = rss_mb()
t = time.perf_counter()
catalogue = procedures.default_catalogue()
loaded = time.perf_counter() - t
t = time.perf_counter()
catalogue.retriever.find("làm lại giấy khai sinh")
built = time.perf_counter() - t
print(len(catalogue), loaded, built, rss_mb() - before)
"""


def load_and_memory() -> dict:
    """In a fresh interpreter: catalogue load time, index build time, extra memory (MB)."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE.format(root=str(ROOT))], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.split()
    return {"records": int(out[0]), "load_s": float(out[1]), "index_s": float(out[2]), "memory_mb": float(out[3])}


def import_time() -> dict:
    from procedures import importer

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = importer.import_records([NATIONAL_FILE])
        importer.write_catalogue(result.records, Path(tmp) / "catalogue.jsonl.gz")
        elapsed = time.perf_counter() - start
    with gzip.open(NATIONAL_FILE, "rt", encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    return {"records": lines, "seconds": elapsed}


def print_figures(with_import: bool = True) -> dict:
    figures = load_and_memory()
    print("\n== National catalogue: load, index, memory ==")
    print(f"{figures['records']} records; load {figures['load_s']:.2f} s (target ≤ 5 s); "
          f"retrieval index {figures['index_s']:.2f} s; extra memory {figures['memory_mb']:.0f} MB (target ≤ 150 MB)")
    if with_import:
        imp = import_time()
        figures["import_s"] = imp["seconds"]
        print(f"import of the whole national file ({imp['records']} records): {imp['seconds']:.1f} s (target ≤ 60 s)")
    return figures


def run(resolver=None, title: str = "retrieval with the hand-written aliases (no model)") -> dict:
    resolver = resolver or RetrievalOnly()
    result = accuracy(resolver, load_questions())
    print_accuracy(result, title)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.bench_retrieval")
    parser.add_argument("--model", action="store_true", help="through the trained NLU (models/current.tar.gz)")
    parser.add_argument("--no-import", action="store_true", help="skip timing the import of the whole file")
    args = parser.parse_args(argv)
    if args.model:
        from bot import settings

        run(ThroughModel(settings.load().model), "through the trained NLU")
    else:
        run()
    print_figures(with_import=not args.no_import)


if __name__ == "__main__":
    main()

"""The stock `rasa init` reference bot of `make bench` (bot.bench_stock)."""

import asyncio
from pathlib import Path

import pytest
import yaml

from bot import bench_stock


def test_conversation_is_the_init_bots_own_examples():
    import rasa.cli.scaffold as scaffold

    nlu = yaml.safe_load((Path(scaffold.scaffold_path()) / "data" / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    examples = {block["intent"]: [line[2:].strip() for line in block["examples"].splitlines() if line.strip()]
                for block in nlu}
    assert len(bench_stock.CONVERSATIONS) == len(bench_stock.INTENTS) == 3
    for texts, intents in zip(bench_stock.CONVERSATIONS, bench_stock.INTENTS):
        assert len(texts) == len(intents) == 10
        for text, intent in zip(texts, intents):
            assert text in examples[intent], (text, intent)
    assert {i for intents in bench_stock.INTENTS for i in intents} == set(examples)
    assert [bench_stock.conversation_texts(f"bench-run-8-{i}") for i in range(4)] == \
        [*bench_stock.CONVERSATIONS, bench_stock.CONVERSATIONS[0]]


def test_reference_policies_are_rules_and_memoization(tmp_path):
    import shutil

    import rasa.cli.scaffold as scaffold
    from rasa.shared.utils.io import read_config_file

    config = tmp_path / "config.yml"
    shutil.copy(Path(scaffold.scaffold_path()) / "config.yml", config)
    assert read_config_file(config)["policies"] is None   # as generated: Rasa's defaults, TED among them
    bench_stock.set_policies(config)
    parsed = read_config_file(config)
    assert [p["name"] for p in parsed["policies"]] == ["MemoizationPolicy", "RulePolicy"]
    assert parsed["pipeline"] is None   # the NLU pipeline stays the default
    with pytest.raises(bench_stock.StockError):
        bench_stock.set_policies(config)   # no `policies: null` left: refused, not guessed


def test_comparison_prints_ratio_and_targets(capsys):
    ours = {1: {"p50_ms": 20.0, "p95_ms": 30.0, "turns_per_s": 40.0},
            8: {"p50_ms": 90.0, "p95_ms": 160.0, "turns_per_s": 60.0}}
    stock = {1: {"p50_ms": 12.0, "p95_ms": 15.0, "turns_per_s": 80.0},
             8: {"p50_ms": 80.0, "p95_ms": 150.0, "turns_per_s": 100.0}}
    bench_stock.print_comparison(ours, stock)
    out = capsys.readouterr().out
    assert "= 0.60× (target ≥ 1.2×: NOT met)" in out
    assert "ours 160.0 ms (target < 150 ms: NOT met); stock 150.0 ms" in out
    bench_stock.print_comparison(ours, None)
    assert "not measured" in capsys.readouterr().out


def test_failure_is_one_line_and_no_crash(monkeypatch, capsys):
    def broken(**_):
        raise bench_stock.StockError("rasa init exited with code 1: boom\nsecond line")

    monkeypatch.setattr(bench_stock, "build_stock", broken)
    assert bench_stock.run_stock(turns=2, conversations=2) is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "Stock bot not measured: StockError: rasa init exited with code 1: boom second line"


def test_bench_prints_ours_vs_stock_and_skip_stock(monkeypatch, capsys):
    from bot import benchmark
    from bot.__main__ import build_parser

    ours = {1: {"p50_ms": 20.0, "p95_ms": 30.0, "turns_per_s": 40.0},
            8: {"p50_ms": 90.0, "p95_ms": 140.0, "turns_per_s": 130.0}}
    stock = {1: {"p50_ms": 12.0, "p95_ms": 15.0, "turns_per_s": 80.0},
             8: {"p50_ms": 80.0, "p95_ms": 150.0, "turns_per_s": 100.0}}
    calls = []
    monkeypatch.setattr(benchmark, "run_dialogue", lambda args: ours)
    monkeypatch.setattr(benchmark, "pdf_timing", lambda: {"p50_ms": 1.0, "p95_ms": 1.0, "bytes": 1})
    monkeypatch.setattr(bench_stock, "run_stock", lambda **kw: calls.append(kw) or stock)
    base = ["bench", "--skip-nlu", "--skip-scale", "--skip-retrain", "--skip-faults", "--turns", "7", "--conversations", "4"]
    benchmark.main(build_parser().parse_args(base))
    assert calls == [{"turns": 7, "conversations": 4}]
    out = capsys.readouterr().out
    assert "= 1.30× (target ≥ 1.2×: met)" in out and "ours 140.0 ms (target < 150 ms: met)" in out
    benchmark.main(build_parser().parse_args([*base, "--skip-stock"]))
    assert len(calls) == 1 and "Ours vs stock" not in capsys.readouterr().out


@pytest.fixture(scope="module")
def stock_bot():
    with bench_stock.StockBot(bench_stock.build_stock()) as bot:
        yield bot


@pytest.mark.stack
def test_stock_model_was_trained_with_the_reference_policies(stock_bot):
    import tarfile

    with tarfile.open(stock_bot.project / "models" / f"{bench_stock.MODEL_NAME}.tar.gz") as model:
        names = " ".join(model.getnames())
    assert "RulePolicy" in names and "MemoizationPolicy" in names and "TEDPolicy" not in names


@pytest.mark.stack
def test_stock_bot_greets(stock_bot):
    replies = stock_bot.say("test-greet", "hello")
    assert [r.get("text") for r in replies] == ["Hey! How are you?"]


@pytest.mark.stack
def test_stock_load_figures(stock_bot):
    silent = [0]
    result = asyncio.run(bench_stock.stock_load(stock_bot.base_url, 2, 3, 10, "test", silent))
    assert result["turns"] == 30   # the three stories
    assert result["turns_per_s"] > 0
    assert result["p95_ms"] >= result["p50_ms"] > 0
    assert silent == [0]   # rules + memoization answer every turn of each conversation

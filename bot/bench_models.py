"""Figures of the staff tools' models tab (``python -m bot bench``; README "Retraining").

- ``compare_retrain``: after a staff member adds 20 examples (``TWENTY_EXAMPLES``, new phrasings
  for known intents, not taken from the held-out files), retrain each way and report the wall time
  of ``rasa train`` and the held-out intent accuracy: full training (what ``make model`` does),
  full training reusing Rasa's cache from the previous one, fewer DIET epochs, fine-tuning the
  current model with an epoch fraction, and "quick": a new memory of the examples written into a
  copy of the current model (``bot.nlu.memory``; DIET unchanged), with how many of the 20 new
  examples each model answers with their intent.
- ``swap_under_load``: the model swap (``PUT /model``, loaded in a thread by
  ``bot.model_registry.install_background_model_load``) while 8 conversations talk to the bot app's
  ``/api/messages``: failed and busy answers, latency during the swap.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from pathlib import Path

import httpx
import yaml

from bot.settings import ROOT

TWENTY_EXAMPLES = """version: "3.1"
nlu:
- intent: ask_papers
  examples: |
    - anh ơi đi làm [hộ chiếu](procedure) phổ thông thì đem theo những gì
    - xin [giấy khai sinh](procedure) cho bé mới đẻ cần mang mấy loại giấy
    - muốn đăng ký [tạm trú](procedure) ở phòng trọ thì chuẩn bị giấy gì
    - làm lại [căn cước](procedure) cần đem những giấy tờ nào
- intent: ask_fee
  examples: |
    - làm [hộ chiếu](procedure) online thì đóng bao nhiêu tiền
    - đăng ký [kết hôn](procedure) có mất phí không ạ
    - le phi lam [can cuoc](procedure) la bao nhieu vay
    - xin [lý lịch tư pháp](procedure) tốn bao nhiêu
- intent: ask_duration
  examples: |
    - nộp hồ sơ [hộ chiếu](procedure) xong bao nhiêu ngày thì lấy được
    - đăng ký [thường trú](procedure) chờ mấy hôm
    - [khai sinh](procedure) làm trong ngày được không
- intent: ask_where
  examples: |
    - làm [căn cước](procedure) thì lên chỗ nào
    - nop ho so [tam tru](procedure) o dau vay
- intent: ask_how
  examples: |
    - làm [hộ kinh doanh](procedure) qua mạng thế nào
    - các bước xin [lý lịch tư pháp](procedure) online ra sao
- intent: check_status
  examples: |
    - hồ sơ em gửi hôm trước giờ xử lý tới đâu rồi
    - cho hỏi hồ sơ của tôi đã có kết quả chưa
- intent: request_human
  examples: |
    - cho em gặp cán bộ tư vấn trực tiếp
    - mình muốn nói chuyện với người chứ không phải máy
- intent: thank
  examples: |
    - ok cảm ơn bạn nhiều nha
"""


def twenty_examples(variant: int = 0) -> str:
    """The 20 examples; ``variant`` 1 changes every one (a second batch for the cache run)."""
    if not variant:
        return TWENTY_EXAMPLES
    return "\n".join(line + " nhé" if line.startswith("    - ") else line for line in TWENTY_EXAMPLES.splitlines()) + "\n"


def _config_with_epochs(epochs: int, target: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["epochs"] = epochs
    target.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return target


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def compare_retrain(work: Path = ROOT / "build" / "retrain", base: Path | None = None,
                    strategies: tuple[str, ...] = ("finetune-0.1", "finetune-0.2", "full", "full-cached", "epochs-12"),
                    evaluate_models: bool = True, nice: bool = False) -> list[dict]:
    """Train each way on the data + 20 examples; print and return wall time and held-out accuracy."""
    from bot import model_registry as mr
    from bot import training

    base = base or training.MODEL
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cache = work / "cache"
    rows = []
    for strategy in strategies:
        snapshot = work / f"data-{strategy}"
        mr.prepare_snapshot(snapshot, twenty_examples(1 if strategy == "full-cached" else 0))
        out = work / "out"
        config = None
        finetune, fraction, force, skip = None, mr.EPOCH_FRACTION, False, True
        if strategy.startswith("finetune-"):
            finetune, fraction = base, float(strategy.split("-")[1])
        elif strategy == "full":   # what make model does: every component trained, data validated
            force, skip = True, False
        elif strategy.startswith("epochs-"):
            config = _config_with_epochs(int(strategy.split("-")[1]), snapshot / "config-epochs.yml")
        name = strategy.replace(".", "")   # Rasa cuts a fixed model name at its first dot
        if strategy == "quick":   # a new memory of the examples in a copy of the model (bot.nlu.memory)
            rows.append(_quick(base, snapshot, out / f"{name}.tar.gz", evaluate_models))
            continue
        command = mr.train_command(snapshot, out, name, finetune=finetune, epoch_fraction=fraction,
                                   config=config, force=force, skip_validation=skip)
        load_before = _loadavg()
        cpu_before = _children_cpu()
        start = time.perf_counter()
        code = mr.run_logged(command, work / f"{strategy}.log", env=mr.rasa_env(cache), nice=nice)
        seconds = time.perf_counter() - start
        row = {"strategy": strategy, "seconds": round(seconds, 1), "cpu_seconds": round(_children_cpu() - cpu_before, 1),
               "exit": code, "load": load_before}
        if code == 0 and evaluate_models:
            _evaluate(row, out / f"{name}.tar.gz")
        rows.append(row)
        _print_row(row)
    return rows


def _evaluate(row: dict, model: Path) -> None:
    """Held-out accuracy of ``model`` and how many of the 20 new examples it answers right."""
    from bot import model_registry as mr
    from bot.nlu.memory import nlu_examples

    scores, _ = mr.evaluate(model)
    row.update(accuracy=scores["intent_accuracy"], written=_written(scores), procedure=scores["procedure_accuracy"],
               eval_seconds=scores["eval_seconds"])
    work = model.parent / "twenty"
    work.mkdir(exist_ok=True)
    (work / "twenty.yml").write_text(TWENTY_EXAMPLES, encoding="utf-8")
    new = [{"text": text, "intent": intent} for text, intent in nlu_examples(work)]
    answers = mr.predict(model, new)
    row["twenty_right"] = sum(a["intent"] == q["intent"] for q, a in zip(new, answers))


def _quick(base: Path, snapshot: Path, target: Path, evaluate_models: bool) -> dict:
    from bot.nlu.memory import nlu_examples, update_model

    load_before = _loadavg()
    start = time.perf_counter()
    update_model(base, nlu_examples(snapshot / "nlu_data", snapshot / "generated"), target)
    row = {"strategy": "quick", "seconds": round(time.perf_counter() - start, 1), "cpu_seconds": None, "exit": 0,
           "load": load_before}
    if evaluate_models:
        _evaluate(row, target)
    _print_row(row)
    return row


def _print_row(row: dict) -> None:
    cpu = f"CPU {row['cpu_seconds']:.0f} s" if row.get("cpu_seconds") is not None else "in process"
    print(f"  {row['strategy']:14} {row['seconds']:7.1f} s ({cpu})  exit {row['exit']}  load {row['load']}  "
          f"intent {row.get('accuracy', '-')}  as written {row.get('written', '-')}  "
          f"20 new examples right {row.get('twenty_right', '-')}/20  (evaluation {row.get('eval_seconds', '-')} s)",
          flush=True)


def _written(scores: dict) -> float:
    values = [v for k, v in scores["by_set"].items() if k.endswith("/written")]
    return round(sum(values) / len(values), 4) if values else None


def print_retrain_figure(strategies=("quick", "finetune-0.2")) -> None:
    from bot import model_registry as mr
    from bot import training

    print("\n== Retraining after 20 new examples (README \"Retraining\") ==")
    base_scores, _ = mr.evaluate(training.MODEL)
    print(f"  {'current model':14} {'':>9}  intent {base_scores['intent_accuracy']}  "
          f"as written {_written(base_scores)}")
    compare_retrain(strategies=strategies)


# --- model swap under load ------------------------------------------------------------------------

BUSY_PREFIX = "Hệ thống đang bận"
TEXTS = ["lam ho chieu can giay to gi", "thế còn lệ phí?", "mất bao lâu thì có", "nộp ở đâu vậy", "cảm ơn nhé"]


async def _talker(client: httpx.AsyncClient, stop: asyncio.Event, results: list) -> None:
    response = await client.post("/api/conversations")
    body = response.json()
    headers = {"X-Conversation-Token": body["token"]}
    i = 0
    while not stop.is_set():
        start = time.perf_counter()
        try:
            answer = await client.post("/api/messages", json={"conversation_id": body["conversation_id"],
                                                              "text": TEXTS[i % len(TEXTS)]}, headers=headers)
            replies = answer.json().get("replies", []) if answer.status_code == 200 else []
            busy = any(r.get("text", "").startswith(BUSY_PREFIX) for r in replies)
            results.append((time.perf_counter(), time.perf_counter() - start, answer.status_code == 200 and bool(replies),
                            busy))
        except httpx.HTTPError:
            results.append((time.perf_counter(), time.perf_counter() - start, False, False))
        i += 1


async def swap_under_load(base_url: str, rasa_url: str, token: str, model: Path, concurrency: int = 8,
                          settle: float = 3.0) -> dict:
    """8 conversations talk while Rasa swaps to ``model``; counts failed and busy answers."""
    results: list = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        talkers = [asyncio.create_task(_talker(client, stop, results)) for _ in range(concurrency)]
        await asyncio.sleep(settle)
        swap_start = time.perf_counter()
        async with httpx.AsyncClient(base_url=rasa_url, timeout=600) as rasa:
            response = await rasa.put("/model", params={"token": token}, json={"model_file": str(model)})
        swap_end = time.perf_counter()
        await asyncio.sleep(settle)
        stop.set()
        await asyncio.gather(*talkers)
    during = [r for r in results if swap_start <= r[0] <= swap_end + 0.001 or (r[0] - r[1]) <= swap_end <= r[0]]
    return {"status": response.status_code, "swap_seconds": round(swap_end - swap_start, 1), "turns": len(results),
            "turns_during_swap": len(during), "failed": sum(1 for r in results if not r[2]),
            "busy": sum(1 for r in results if r[3]),
            "p95_ms_during_swap": round(1000 * sorted(r[1] for r in during)[int(0.95 * (len(during) - 1))])
            if during else None,
            "p50_ms": round(1000 * statistics.median(r[1] for r in results)) if results else None}


def print_swap_figure(stack) -> None:
    """Run by ``bot.benchmark.run_dialogue`` with the whole stack up."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "swap.tar.gz"   # another file, so Rasa really loads it again
        shutil.copy2(stack.settings.model, copy)
        result = asyncio.run(swap_under_load(stack.base_url, stack.settings.rasa_url, stack.settings.rasa_token, copy))
    print("\n== Model swap (PUT /model) under 8 concurrent conversations ==")
    print(f"  Rasa answered {result['status']} after {result['swap_seconds']} s; {result['turns']} turns, "
          f"{result['turns_during_swap']} during the swap (p95 {result['p95_ms_during_swap']} ms): "
          f"{result['failed']} failed, {result['busy']} busy")


def run_swap_only() -> dict:
    """The swap figure alone: start the three processes (temporary data folder), swap, stop."""
    import tempfile
    from dataclasses import replace

    from bot import settings
    from bot.processes import Stack, free_port

    with tempfile.TemporaryDirectory() as data_dir:
        config = replace(settings.load(), port=free_port(), rasa_port=free_port(), actions_port=free_port(),
                         data_dir=Path(data_dir))
        with Stack(config, extra_env={"RATE_LIMIT_PER_MINUTE": "0", "CONVERSATION_RATE_PER_MINUTE": "0",
                                      "OFFICE_HOURS": "always"}) as stack:
            stack.start()
            with tempfile.TemporaryDirectory() as folder:
                copy = Path(folder) / "swap.tar.gz"
                shutil.copy2(config.model, copy)
                result = asyncio.run(swap_under_load(stack.base_url, config.rasa_url, config.rasa_token, copy))
    print(result)
    return result

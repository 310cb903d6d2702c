"""Command line of the bot package: ``python -m bot COMMAND``.

- ``run``: train if needed, start Rasa, the action server and the bot app; print the URL.
- ``train [--force]``: train the Rasa model if its inputs changed.
- ``parse``: NLU results for lines on stdin (JSON lines).
- ``bench``: NLU accuracy and dialogue latency benchmark (see bot/benchmark.py).
- ``compare-diacritics``: train three variants and compare accuracy without diacritics.
- ``dossier show CODE | list [--state S] | set-state CODE STATE --actor NAME [--note TEXT] | purge``:
  staff operations on dossiers (see bot/staff.py); exit status 1 with a Vietnamese message on refusal.
- ``messages failed [--limit N] [--json]``: citizen messages whose turn failed MAX_ATTEMPTS times, and
  replies the outbox gave up sending to Telegram / Zalo.
- ``accounts add USERNAME --role R [--team T] [--name N] [--password-stdin] | list | disable | enable |
  set-password | unlock``: volunteer / supervisor / admin / staff accounts (see bot/accounts.py).
- ``models list | train [--full | --strategy S] | status JOB | activate ID``: trained models (bot/model_registry.py).
- ``privacy export (--conversation ID | --dossier CODE) [--out FILE] | delete (…) --yes``: one citizen's
  data, exported or deleted in every store (see bot/privacy.py).
- ``db status | upgrade [REVISION]``: the app's database (DATABASE_URL or BOT_DATA_DIR/bot.db), its
  Alembic revision, and the migrations (bot/db.py; ``run`` applies them itself).
- ``telegram set-webhook [--url URL] | delete-webhook``: register the bot's webhook with Telegram
  (default URL: BOT_PUBLIC_URL + /channels/telegram/webhook, with TELEGRAM_WEBHOOK_SECRET).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys

from bot import settings


def cmd_run(args: argparse.Namespace) -> None:
    from bot.processes import Stack
    from bot.training import build_model

    config = settings.load()
    problems = config.scale_out_problems()
    if problems:
        sys.exit("Không thể khởi động: " + "; ".join(problems) + ".")
    from bot import db

    db.upgrade(config.app_database)  # once, before the processes that share the database start
    build_model()
    if not os.environ.get("BOT_MODEL"):   # the model staff activated (bot/model_registry.py), else make model's
        from dataclasses import replace

        from bot.model_registry import Registry

        config = replace(config, model=Registry(config.data_dir).startup_model(config.model))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Before anything starts: a SIGTERM during start-up must stop the children already started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Stack(config) as stack:
        try:
            print("Đang khởi động Rasa, máy chủ hành động và ứng dụng…", flush=True)
            stack.start()
            print(f"Trợ lý đã sẵn sàng: http://localhost:{config.port}", flush=True)
            stack.supervise()  # restarts a crashed Rasa or action server, until SIGTERM / Ctrl+C
        except KeyboardInterrupt:
            pass


def cmd_train(args: argparse.Namespace) -> None:
    from bot.training import build_model

    build_model(force=args.force)


def cmd_compare(args: argparse.Namespace) -> None:
    from bot.training import compare_diacritic_strategies

    compare_diacritic_strategies()


def cmd_parse(args: argparse.Namespace) -> None:
    from bot.parse import main

    main(settings.load().model)


def cmd_bench(args: argparse.Namespace) -> None:
    from bot.benchmark import main

    main(args)


def cmd_models(args: argparse.Namespace) -> None:
    """``models list | train [--full | --strategy S] | status JOB | activate ID``: the staff page's models tab."""
    import asyncio
    import time

    from bot.model_registry import Registry, Unknown

    config = settings.load()
    registry = Registry(config.data_dir)
    try:
        if args.operation_name == "list":
            registry.adopt_bundled()
            for m in registry.models():
                accuracy = f"{m['metrics']['intent_accuracy']:.1%}" if m.get("metrics") else "–"
                print(f"{m['id']}  {'*' if m['active'] else ' '}  {m['created'][:19]}  {m.get('strategy') or '–':8} "
                      f"ý định {accuracy:>6}  {m.get('trained_by') or '–'}")
        elif args.operation_name == "train":
            result = registry.start_training(args.by, full=args.full, strategy=args.strategy)
            if result["job"] is None:
                print(f"Dữ liệu không đổi: mô hình {result['model']} đã được huấn luyện từ đúng dữ liệu này.")
                return
            while (job := registry.job(result["job"]))["state"] == "running":
                print(f"\r{job['progress'].get('label', '')} {job['progress'].get('percent', 0)}%   ", end="", flush=True)
                time.sleep(2)
            print()
            if job["state"] == "failed":
                sys.exit(f"Huấn luyện thất bại: {job.get('error')}")
            print(json.dumps({k: job.get(k) for k in ("model", "train_seconds", "metrics", "active_metrics")},
                             ensure_ascii=False, indent=2))
        elif args.operation_name == "status":
            print(json.dumps(registry.job(args.job), ensure_ascii=False, indent=2))
        elif args.operation_name == "activate":
            model = asyncio.run(registry.activate(args.id, args.by, config.rasa_urls, config.rasa_token))
            print(f"Đã kích hoạt mô hình {model['id']}.")
    except Unknown as error:
        sys.exit(f"Không tìm thấy {error.args[0]}.")


def _add_models_commands(commands) -> None:
    from bot.model_registry import STRATEGIES
    models = commands.add_parser("models", help="trained models: list, train, activate (bot/model_registry.py)")
    models.set_defaults(func=cmd_models)
    operations = models.add_subparsers(dest="operation_name", required=True)
    operations.add_parser("list", help="registered models, newest first (* = active)")
    train = operations.add_parser("train", help="update the active model with the current data (background job): "
                                  "a new memory of the examples when only examples changed, else fine-tune")
    train.add_argument("--full", action="store_true", help="train from scratch")
    train.add_argument("--strategy", choices=STRATEGIES, default=None,
                       help="quick: memory of the examples only; finetune: DIET fine-tuned; full: from scratch")
    train.add_argument("--by", default="cli")
    status = operations.add_parser("status", help="a training job's state")
    status.add_argument("job")
    activate = operations.add_parser("activate", help="swap the running Rasa to this model (PUT /model)")
    activate.add_argument("id")
    activate.add_argument("--by", default="cli")


def _vn_date(iso: str) -> str:
    return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}"   # "2026-03-03" → "03/03/2026"


def _print_dossier(info: dict) -> None:
    print(f"{info['code']} — {info['procedure_name'] or info['procedure_id']}")
    expected = f" · dự kiến có kết quả {_vn_date(info['expected_date'])}" if info["expected_date"] else ""
    print(f"Trạng thái: {info['state_label']} ({info['state']}){expected}")
    print("Có thể chuyển sang:", ", ".join(info["next_states"]) or "(không)")
    print("Thông tin (số giấy tờ, điện thoại đã che):")
    for answer in info["answers"]:
        print(f"  {answer['label']}: {answer['value']}")
    print("Lịch sử:")
    for event in info["history"]:
        note = f" — {event['note']}" if event["note"] else ""
        print(f"  {event['at'][:19]}  {event['from_state'] or '∅'} → {event['to_state']}  ({event['actor']}){note}")


def _dossier_show(config, args: argparse.Namespace) -> None:
    from bot import staff

    info = staff.show(config, args.code)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        _print_dossier(info)


def _dossier_list(config, args: argparse.Namespace) -> None:
    from bot import staff

    dossiers = staff.list_dossiers(config, state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps(dossiers, ensure_ascii=False, indent=2))
        return
    for d in dossiers:
        expected = f"  dự kiến {_vn_date(d['expected_date'])}" if d["expected_date"] else ""
        print(f"{d['code']}  {d['state_label']:<15} {d['procedure_id']:<20} {d['updated_at'][:10]}{expected}")
    if not dossiers:
        print("Không có hồ sơ nào.")


def _dossier_set_state(config, args: argparse.Namespace) -> None:
    from bot import staff

    dossier = staff.change_state(config, args.code, args.state, args.actor, args.note)
    print(f"Đã chuyển hồ sơ {dossier.code} sang “{dossier.state_label}” và báo cho người dân.")


def _dossier_purge(config, args: argparse.Namespace) -> None:
    from bot import staff

    count = staff.purge(config)
    print(f"Đã xóa {count} bản nháp, tin nhắn và sự kiện hội thoại quá {config.draft_retention_days} ngày.")


def cmd_dossier(args: argparse.Namespace) -> None:
    from bot import staff

    try:
        args.operation(settings.load(), args)
    except staff.DossierNotFound as error:
        sys.exit(f"Không tìm thấy hồ sơ {error.args[0]}.")
    except (staff.InvalidTransition, staff.UnknownState) as error:
        sys.exit(str(error))


def _add_dossier_commands(commands) -> None:
    dossier = commands.add_parser("dossier", help="staff operations on dossiers")
    dossier.set_defaults(func=cmd_dossier)
    operations = dossier.add_subparsers(dest="operation_name", required=True)
    show = operations.add_parser("show", help="a dossier, its answers (masked) and its history")
    show.add_argument("code")
    show.add_argument("--json", action="store_true")
    show.set_defaults(operation=_dossier_show)
    listing = operations.add_parser("list", help="dossiers, most recently changed first")
    listing.add_argument("--state", help="only dossiers in this state (e.g. da_nop)")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(operation=_dossier_list)
    set_state = operations.add_parser("set-state", help="move a dossier to another state and tell the citizen")
    set_state.add_argument("code")
    set_state.add_argument("state")
    set_state.add_argument("--actor", required=True, help="staff id recorded in the history")
    set_state.add_argument("--note", help="shown to the citizen (required for can_bo_sung, tu_choi)")
    set_state.set_defaults(operation=_dossier_set_state)
    operations.add_parser("purge", help="delete drafts, chat messages and Rasa events older than "
                          "DRAFT_RETENTION_DAYS").set_defaults(
        operation=_dossier_purge)


def cmd_messages_failed(args: argparse.Namespace) -> None:
    from bot import staff

    rows = staff.failed_messages(settings.load(), limit=args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        print(f"{row['created_at'][:19]}  #{row['id']}  {row['channel']}:{row['conversation_id']}  "
              f"{row['attempts']} lần ({row['error']}): {row['text'][:80]}")
    if not rows:
        print("Không có tin nhắn nào bị lỗi.")


def cmd_telegram(args: argparse.Namespace) -> None:
    import asyncio

    from channels.base import ChannelError
    from channels.telegram import TelegramChannel

    config = settings.load()
    channel = TelegramChannel.from_settings(config)
    if channel is None:
        sys.exit("Telegram đang tắt: cần TELEGRAM_BOT_TOKEN và TELEGRAM_WEBHOOK_SECRET.")
    url = getattr(args, "url", None) or f"{config.link_base}/channels/telegram/webhook"

    async def run() -> None:
        await channel.start()
        try:
            if args.operation_name == "set-webhook":
                await channel.set_webhook(url)
                print(f"Đã đăng ký webhook Telegram: {url}")
            else:
                await channel.delete_webhook()
                print("Đã xóa webhook Telegram.")
        finally:
            await channel.stop()

    try:
        asyncio.run(run())
    except (ChannelError, ValueError) as error:
        sys.exit(f"Không thực hiện được với Telegram: {error}")


def _add_telegram_commands(commands) -> None:
    telegram = commands.add_parser("telegram", help="register or remove the Telegram webhook")
    operations = telegram.add_subparsers(dest="operation_name", required=True)
    set_webhook = operations.add_parser("set-webhook", help="setWebhook with the secret; default URL from BOT_PUBLIC_URL")
    set_webhook.add_argument("--url", help="https://<public host>/channels/telegram/webhook")
    set_webhook.set_defaults(func=cmd_telegram)
    operations.add_parser("delete-webhook", help="deleteWebhook (e.g. before TELEGRAM_MODE=polling)").set_defaults(
        func=cmd_telegram)


def _add_messages_commands(commands) -> None:
    messages = commands.add_parser("messages", help="citizen messages the bot could not answer")
    operations = messages.add_subparsers(dest="operation_name", required=True)
    failed = operations.add_parser("failed", help="messages whose turn failed MAX_ATTEMPTS times, newest first")
    failed.add_argument("--limit", type=int, default=100)
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(func=cmd_messages_failed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="train if needed and start everything").set_defaults(func=cmd_run)
    train = commands.add_parser("train", help="train the Rasa model if its inputs changed")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=cmd_train)
    commands.add_parser("parse", help="NLU results for stdin lines").set_defaults(func=cmd_parse)
    commands.add_parser("compare-diacritics", help="train and compare three ways of handling text "
                        "without diacritics (~15 min)").set_defaults(func=cmd_compare)
    bench = commands.add_parser("bench", help="accuracy and latency benchmark")
    bench.add_argument("--turns", type=int, default=10, help="turns per conversation")
    bench.add_argument("--conversations", type=int, default=16, help="conversations per concurrency level")
    bench.add_argument("--soak-seconds", type=float, default=600,
                       help="the long run at 8 concurrent before the memory figure (0 skips it)")
    bench.add_argument("--skip-nlu", action="store_true")
    bench.add_argument("--skip-dialogue", action="store_true")
    bench.add_argument("--skip-scale", action="store_true", help="skip 1 vs 2 Rasa processes on PostgreSQL + Redis")
    bench.add_argument("--skip-stock", action="store_true",
                       help="skip the stock `rasa init` bot measured beside ours (bot.bench_stock)")
    bench.set_defaults(func=cmd_bench)
    bench.add_argument("--skip-retrain", action="store_true", help="skip the 20-example retraining figure")
    bench.add_argument("--skip-faults", action="store_true",
                       help="skip the locked-database and full-disk faults (bot.bench_faults; needs root to mount)")
    _add_dossier_commands(commands)
    _add_models_commands(commands)
    _add_messages_commands(commands)
    _add_telegram_commands(commands)
    from bot.accounts import add_accounts_commands

    add_accounts_commands(commands)
    from bot.privacy import add_privacy_commands

    add_privacy_commands(commands)
    from bot.db import add_db_commands

    add_db_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

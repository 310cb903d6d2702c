"""Command line of the bot package: ``python -m bot COMMAND``.

- ``run``: train if needed, start Rasa, the action server and the bot app; print the URL.
- ``train [--force]``: train the Rasa model if its inputs changed.
- ``parse``: NLU results for lines on stdin (JSON lines).
- ``bench``: NLU accuracy and dialogue latency benchmark (see bot/benchmark.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from bot import settings


def cmd_run(args: argparse.Namespace) -> None:
    from bot.processes import Stack
    from bot.training import build_model

    build_model()
    config = settings.load()
    with Stack(config) as stack:
        print("Đang khởi động Rasa, máy chủ hành động và ứng dụng…", flush=True)
        stack.start()
        print(f"Trợ lý đã sẵn sàng: http://localhost:{config.port}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while all(p.poll() is None for p in stack.processes.values()):
                time.sleep(1)
            print("Một tiến trình đã dừng; xem nhật ký trong", config.data_dir / "logs", file=sys.stderr)
        except KeyboardInterrupt:
            pass


def cmd_train(args: argparse.Namespace) -> None:
    from bot.training import build_model

    build_model(force=args.force)


def cmd_parse(args: argparse.Namespace) -> None:
    from bot.parse import main

    main(settings.load().model)


def cmd_bench(args: argparse.Namespace) -> None:
    from bot.benchmark import main

    main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="train if needed and start everything").set_defaults(func=cmd_run)
    train = commands.add_parser("train", help="train the Rasa model if its inputs changed")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=cmd_train)
    commands.add_parser("parse", help="NLU results for stdin lines").set_defaults(func=cmd_parse)
    bench = commands.add_parser("bench", help="accuracy and latency benchmark")
    bench.add_argument("--turns", type=int, default=10, help="turns per conversation")
    bench.add_argument("--conversations", type=int, default=16, help="conversations per concurrency level")
    bench.add_argument("--skip-nlu", action="store_true")
    bench.add_argument("--skip-dialogue", action="store_true")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

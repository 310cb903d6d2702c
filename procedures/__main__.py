"""Command line: ``python -m procedures validate | build-db PATH | search TEXT``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from procedures import CatalogueError, build_database, load_catalogue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m procedures", description="Procedure catalogue tools.")
    parser.add_argument("--dir", type=Path, default=None, help="catalogue directory (default: procedures/catalogue)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("validate", help="check every record; exit 1 on any problem")
    build = commands.add_parser("build-db", help="write the catalogue and its search index to a SQLite file")
    build.add_argument("path", type=Path)
    find = commands.add_parser("search", help="full-text search (with or without diacritics)")
    find.add_argument("text")
    find.add_argument("--limit", type=int, default=3)
    args = parser.parse_args(argv)

    try:
        catalogue = load_catalogue(args.dir)
    except CatalogueError as error:
        print(f"Catalogue invalid:\n{error}", file=sys.stderr)
        return 1
    if args.command == "validate":
        print(f"OK: {len(catalogue)} procedures")
    elif args.command == "build-db":
        db = build_database(catalogue, args.path)
        print(f"Wrote {db['procedures'].count} procedures to {args.path}")
    else:
        results = catalogue.search(args.text, limit=args.limit)
        for procedure, score in results:
            print(f"{score:6.3f}  {procedure.id:<22} {procedure.name}")
        if not results:
            print("(no match)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m procedures validate | build-db PATH | search TEXT | import FILE… | report``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
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
    imp = commands.add_parser("import", help="import the national database (rendered .jsonl[.gz] or portal .json)")
    imp.add_argument("files", nargs="*", type=Path,
                     help="input files (default: procedures/national/national-2026-07.jsonl.gz)")
    imp.add_argument("--out", type=Path, default=None,
                     help="catalogue to write (default: procedures/national/catalogue.jsonl.gz)")
    imp.add_argument("--date", type=dt.date.fromisoformat, default=None,
                     help="source date YYYY-MM-DD (default: from the file name, or the portal's updatedAt)")
    imp.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    rep = commands.add_parser("report", help="parse problems and quality flags of the imported catalogue")
    rep.add_argument("--catalogue", type=Path, default=None,
                     help="imported catalogue (default: procedures/national/catalogue.jsonl.gz)")
    rep.add_argument("--all", action="store_true", help="list every code (default: the first 15 per line)")
    rep.add_argument("--json", action="store_true", help="machine-readable: problems and flags with all codes")
    args = parser.parse_args(argv)
    if args.command == "import":
        return _import(args)
    if args.command == "report":
        return _report(args)

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


def _import(args: argparse.Namespace) -> int:
    from procedures import importer

    files = args.files or [importer.DEFAULT_SOURCE]
    out = args.out or importer.DEFAULT_CATALOGUE
    started = time.perf_counter()
    try:
        result = importer.import_records(files, previous=out, checked_on=args.date)
    except (importer.ImportFailure, importer.RecordError) as error:
        print(f"Import failed: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(importer.summary(result))
    if args.dry_run:
        print(f"dry run: {out} not written ({elapsed:.1f} s)")
    else:
        importer.write_catalogue(result, out)
        print(f"wrote {len(result.records)} records to {out} ({elapsed:.1f} s)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from procedures import importer

    path = args.catalogue or importer.DEFAULT_CATALOGUE
    if not path.exists():
        print(f"{path}: no imported catalogue; run `python -m procedures import` first", file=sys.stderr)
        return 1
    try:
        records = importer.read_catalogue(path)
    except importer.RecordError as error:
        print(f"Catalogue invalid: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(importer.report_data(records), ensure_ascii=False, indent=1))
    else:
        print(importer.report(records, limit=None if args.all else 15))
    return 0


if __name__ == "__main__":
    sys.exit(main())

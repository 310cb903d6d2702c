"""Reading the catalogue directory: all files are valid, or nothing is loaded.

``load_catalogue()`` parses every ``*.yml`` file, validates it (``procedures.schema``),
checks that the id equals the file name and that no phrase (alias, name, short name)
names two procedures once folded. Every problem found is reported in one
``CatalogueError`` whose lines read ``<file>: <field>: <problem>``.

``default_catalogue()`` is live: it follows the files. A signature of the catalogue directory
(``PROCEDURES_DIR``, default procedures/catalogue) and of the imported file (name, inode, size and
mtime of each file: one ``scandir``) is compared with the one loaded, and the catalogue reloaded
when they differ. A turn asks for the catalogue a dozen times or more, so each call only stats the
directory and the imported file (their mtime changes with every added, removed or renamed-over
file) and the whole signature is read again when those changed or FULL_CHECK_SECONDS have passed
(an in-place hand edit of one file does not touch the directory). An edit saved by the staff page
(``procedures.editing``, an atomic rename) is therefore seen by the bot app, the action server and
the Rasa process on their next message, with no restart and no retraining. A reload that fails (a
half-written hand edit) keeps the previous catalogue and logs the problems. Reloading costs about 1 s (mostly the retrieval
index over ~2,600 records, built on first use); the imported records are read once per file version.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

import yaml

from procedures import schema
from procedures.collection import Catalogue
from procedures.model import Procedure
from procedures.search import fold_phrase, phrase_fields, phrase_variants

if TYPE_CHECKING:
    from procedures.importer import ImportedRecord
    from procedures.retrieval import Retriever

log = logging.getLogger(__name__)

FULL_CHECK_SECONDS = 0.5  # an in-place edit of a record file is seen within this

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_DIRECTORY = PACKAGE_DIR / "catalogue"
NATIONAL_CATALOGUE = PACKAGE_DIR / "national" / "catalogue.jsonl.gz"
DIRECTORY_VARIABLE = "PROCEDURES_DIR"


def catalogue_directory() -> Path:
    """Where the hand-written records are: ``$PROCEDURES_DIR`` if set (tests, a city's own
    checkout), else procedures/catalogue. The three processes inherit the variable."""
    value = os.environ.get(DIRECTORY_VARIABLE)
    return Path(value) if value else DEFAULT_DIRECTORY


class CatalogueError(Exception):
    """The catalogue is invalid. ``problems`` lists one "<file>: <field>: <problem>" per line."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate keys instead of keeping the last one."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def file_label(path: Path) -> str:
    """``procedures/catalogue/x.yml`` inside the repository, the path as given elsewhere."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def load_catalogue(directory: str | Path | None = None, *, national: bool | str | Path = False) -> Catalogue:
    """Load and validate every ``*.yml`` record in ``directory`` (default: procedures/catalogue).

    ``national=True`` (or the path of an imported catalogue) adds the records imported from the
    national database (``python -m procedures import``); hand-written records win for their codes.
    ``default_catalogue()``, which the bot answers from, is the merged one.
    """
    if national:
        return load_national(None if national is True else national, directory=directory)
    directory = Path(directory) if directory is not None else catalogue_directory()
    if not directory.is_dir():
        raise CatalogueError(f"{file_label(directory)}: not a directory")
    problems = [f"{file_label(p)}: wrong extension, records must be named <id>.yml"
                for p in sorted(directory.glob("*.yaml"))]
    loaded: list[tuple[Path, Procedure]] = []
    for path in sorted(directory.glob("*.yml")):
        try:
            loaded.append((path, _load_file(path)))
        except CatalogueError as error:
            problems += error.problems
    if not loaded and not problems:
        problems.append(f"{file_label(directory)}: no procedure records (*.yml)")
    problems += phrase_conflicts(loaded)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(p for _, p in loaded)


def load_national(path: str | Path | None = None, *, directory: str | Path | None = None) -> Catalogue:
    """The hand-written records plus the imported ones (``procedures/national/catalogue.jsonl.gz``).

    An imported record whose code a hand-written record carries (its ``code``, or one it ``covers``)
    is left out. The catalogue knows which records are imported and
    their quality flags (``Catalogue.is_imported``, ``Catalogue.flags``).
    """
    hand_written = load_catalogue(directory)
    path = Path(path) if path is not None else NATIONAL_CATALOGUE
    if not path.exists():
        raise CatalogueError(f"{file_label(path)}: no imported catalogue; run `python -m procedures import`")
    try:
        stat = path.stat()
        records = _imported_records(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError) as error:
        raise CatalogueError(f"{file_label(path)}: {error}") from None
    return merge_national(hand_written, records)


def hand_written_codes(catalogue: Catalogue) -> dict[str, str]:
    """National code -> id of the hand-written record that covers it."""
    codes = {p.code: p.id for p in catalogue if p.code}
    for p in catalogue:  # the imported records a hand-written one answers for (its ``covers``)
        for code in p.covers:
            codes.setdefault(code, p.id)
    return codes


def merge_national(hand_written: Catalogue, records: "Mapping[str, ImportedRecord]") -> Catalogue:
    """``hand_written`` plus the imported ``records`` whose codes no hand-written record carries
    (nor ``covers``); the names of the records a hand-written one covers stay with it, for the retrieval."""
    covered = hand_written_codes(hand_written)
    imported = [r for code, r in sorted(records.items()) if code not in covered and r.procedure.id not in hand_written]
    names: dict[str, list[str]] = {}
    for code, r in sorted(records.items()):
        if code in covered and covered[code] in hand_written:
            names.setdefault(covered[code], []).append(r.procedure.name)
    return Catalogue([*hand_written, *(r.procedure for r in imported)],
                     flags={r.procedure.id: r.flags for r in imported if r.flags},
                     imported=[r.procedure.id for r in imported], covered_names=names)


@lru_cache(maxsize=2)
def _imported_records(path: str, mtime_ns: int, size: int) -> "Mapping[str, ImportedRecord]":
    """The imported records of one version of the file (read once: ~0.3 s for ~2,600 records)."""
    from procedures import importer

    return importer.read_catalogue(path)


def catalogue_signature(directory: Path | None = None) -> tuple:
    """What changes whenever a record file is written, added or removed (see the module docstring)."""
    directory = directory or catalogue_directory()
    files = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        entries = []
    for entry in entries:
        if entry.name.endswith((".yml", ".yaml")):
            stat = entry.stat()
            files.append((entry.name, entry.inode(), stat.st_size, stat.st_mtime_ns))
    return str(directory), tuple(sorted(files)), _stat_key(NATIONAL_CATALOGUE)


def _stat_key(path: Path) -> tuple | None:
    """What changes when ``path`` is written or replaced (inode, size, mtime), or None if it is missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _quick_stamp() -> tuple:
    """The catalogue directory's own stat (its mtime changes when a file is added, removed or renamed
    over, i.e. on every save of the staff page) and the imported file's: two ``stat`` calls."""
    directory = catalogue_directory()
    return str(directory), _stat_key(directory), _stat_key(NATIONAL_CATALOGUE)


class LiveCatalogue:
    """The catalogue the bot answers from, following the files (``current()``: a ``Catalogue``).

    Any ``Catalogue`` method called on it runs on the current snapshot; ``retriever`` is a
    ``LiveRetriever``, for holders that keep it for the life of the process (the NLU component).
    Code that needs one consistent view for a while takes ``current()`` once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catalogue: Catalogue | None = None
        self._signature: tuple | None = None  # of the files loaded, or of the last failed attempt
        self.generation = 0  # counts reloads
        self._quick: tuple | None = None  # _quick_stamp() at the last full check
        self._checked = float("-inf")    # time.monotonic() of the last full check

    def current(self) -> Catalogue:
        quick = _quick_stamp()
        now = time.monotonic()
        if self._catalogue is not None and quick == self._quick and now - self._checked < FULL_CHECK_SECONDS:
            return self._catalogue
        signature = catalogue_signature()
        self._quick, self._checked = quick, now
        if signature != self._signature or self._catalogue is None:
            with self._lock:
                if signature != self._signature or self._catalogue is None:
                    self._reload(signature)
        return self._catalogue

    def _reload(self, signature: tuple) -> None:
        directory = Path(signature[0])
        try:
            catalogue = load_national(directory=directory) if NATIONAL_CATALOGUE.exists() \
                else load_catalogue(directory)
        except CatalogueError as error:
            if self._catalogue is None:
                raise
            log.error("catalogue not reloaded, keeping the previous one: %s", error)
        else:
            self._catalogue = catalogue
            self.generation += 1
        self._signature = signature

    @property
    def retriever(self) -> "LiveRetriever":
        return LiveRetriever(self)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_lock", "_catalogue", "_signature", "_quick", "_checked"):
            raise AttributeError(name)
        return getattr(self.current(), name)

    def __contains__(self, procedure_id: object) -> bool:
        return procedure_id in self.current()

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self.current())

    def __len__(self) -> int:
        return len(self.current())


class LiveRetriever:
    """The retrieval over whatever the live catalogue is now (each call)."""

    def __init__(self, live: LiveCatalogue):
        self._live = live

    def current(self) -> "Retriever":
        return self._live.current().retriever

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "_live":  # special names and its own are not delegated
            raise AttributeError(name)
        return getattr(self.current(), name)


_DEFAULT = LiveCatalogue()


def default_catalogue() -> LiveCatalogue:
    """The catalogue the bot answers from, one per process and live (see the module docstring): the
    hand-written records (``catalogue_directory()``) plus those imported from the national database
    (procedures/national/catalogue.jsonl.gz, ``python -m procedures import``)."""
    return _DEFAULT


def _load_file(path: Path) -> Procedure:
    label = file_label(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError:
        raise CatalogueError(f"{label}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise CatalogueError(f"{label}: invalid YAML: {' '.join(str(error).split())}") from None
    try:
        record = schema.procedure(raw)
    except schema.FieldError as error:
        raise CatalogueError(f"{label}: {error}") from None
    if record.id != path.stem:
        raise CatalogueError(f"{label}: id: {record.id!r} must equal the file name {path.stem!r}")
    return record


def phrase_conflicts(loaded: list[tuple[Path, Procedure]]) -> list[str]:
    """Aliases that repeat within a record once folded, and phrases that name two procedures.

    A phrase counts in its folded form and in its form with chat abbreviations expanded
    ("hc" → "ho chieu"), the two forms the matcher and the search look for.
    """
    owners: dict[str, tuple[str, str]] = {}  # folded phrase -> (procedure id, file where first seen)
    problems = []
    for path, record in loaded:
        label = file_label(path)
        seen_here: dict[str, str] = {}
        for field, text in phrase_fields(record):
            folded = fold_phrase(text)
            if folded in seen_here:
                if field.startswith("aliases"):
                    problems.append(f"{label}: {field}: repeats {seen_here[folded]} once diacritics are "
                                    f"removed ({folded!r}); diacritic-free forms are derived automatically")
                continue
            seen_here[folded] = field
            for phrase in phrase_variants(text):
                owner = owners.setdefault(phrase, (record.id, label))
                if owner[0] != record.id:
                    problems.append(f"{label}: {field}: {phrase!r} already names procedure {owner[0]!r} ({owner[1]})")
    return problems

"""The bot app's own data: one SQLAlchemy Core layer over SQLite (the default) and PostgreSQL.

Every store (messages, channel inbox and outbox, dossiers and drafts, handovers, accounts and
sessions, the NLU inbox, the access log) opens its database with :func:`database`, given a
SQLite path or a SQLAlchemy URL (``DATABASE_URL``, e.g. ``postgresql://bot@db/bot``), and runs
the same SQL on both engines. The schema is Alembic's (``bot/migrations``): the first open in a
process brings the database to the newest revision, once, under a lock, so several processes
starting together on a fresh database do not race; an up-to-date database costs one query.

Decisions, written down here because the stores rely on them:

- **One writer at a time.** Every store was written for SQLite, where ``BEGIN IMMEDIATE``
  makes the writers of one database take turns, and several stores count on it (the dossier
  counter, the handover queue, lock-outs). :meth:`Database.write` keeps exactly that on
  PostgreSQL with a transaction-scoped advisory lock, so no store has to be re-proved under
  READ COMMITTED. The app's write transactions are short (well under a millisecond of work
  each), so one lock allows thousands of writes a second, far more than a city's chats make;
  the reads never wait for it.
- **SQL with ``?`` placeholders**, rewritten once per statement into SQLAlchemy binds, so the
  stores' SQL reads as before and runs on both drivers. Only SQL both engines take is used:
  ``ON CONFLICT … DO NOTHING / DO UPDATE``, ``RETURNING id``, partial indexes.
- **SQLite connections** keep WAL, ``synchronous=NORMAL``, ``secure_delete`` and foreign keys,
  set on every new connection; pysqlite's own transaction handling is off and this module
  emits ``BEGIN`` / ``BEGIN IMMEDIATE`` itself (SQLAlchemy's documented recipe).
- Blocking calls: the stores are called from Starlette's thread pool or from threads, never
  directly on the event loop (``run_in_threadpool``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool, StaticPool

__all__ = ["Database", "Transaction", "database", "url_for", "MIGRATIONS", "ERRORS"]

log = logging.getLogger(__name__)

# What a failed database call raises, whichever engine: callers that must answer the citizen
# politely when the database fails catch these.
ERRORS = (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# How long a SQLite connection waits for another writer before the call fails (read at connect).
BUSY_TIMEOUT_MS = 10_000
# pg_advisory_xact_lock key of "one writer at a time" and pg_advisory_lock key of migrations.
WRITE_LOCK = 0x74686331
MIGRATE_LOCK = 0x74686332


def url_for(target: "str | Path") -> str:
    """A SQLAlchemy URL for a SQLite path, or ``target`` itself when it is already a URL."""
    text = str(target)
    if "://" in text:
        return text
    if text == ":memory:":
        return "sqlite://"
    return f"sqlite:///{Path(text)}"


@functools.lru_cache(maxsize=512)
def _bound(sql: str) -> tuple[sqlalchemy.sql.elements.TextClause, int]:
    """``?`` placeholders (outside quotes) → ``:p0, :p1, …`` in a ``text()`` clause."""
    out, count, quote = [], 0, None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            out.append(f":p{count}")
            count += 1
            continue
        out.append(char)
    return sqlalchemy.text("".join(out)), count


class Transaction:
    """One connection inside a transaction: ``execute`` with ``?`` placeholders."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlalchemy.engine.CursorResult:
        clause, count = _bound(sql)
        if count != len(params):
            raise ValueError(f"{count} placeholders, {len(params)} parameters")
        return self.connection.execute(clause, {f"p{i}": value for i, value in enumerate(params)})

    def all(self, sql: str, params: Sequence[Any] = ()) -> list:
        return list(self.execute(sql, params).mappings())

    def one(self, sql: str, params: Sequence[Any] = ()):
        return self.execute(sql, params).mappings().first()

    def scalar(self, sql: str, params: Sequence[Any] = ()):
        return self.execute(sql, params).scalar()

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """An ``INSERT … RETURNING id``; the new row's id."""
        return self.execute(sql, params).scalar_one()


class Database:
    """An engine and its dialect; see the module docstring."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = _engine(url)
        self.dialect = self.engine.dialect.name
        self._lock = threading.Lock()  # one writing thread per process on SQLite (it would wait anyway)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL or an in-memory database)."""
        name = self.engine.url.database
        return Path(name) if self.is_sqlite and name and name != ":memory:" else None

    @contextlib.contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction, one at a time across every process (see the module docstring)."""
        with self._lock if self.is_sqlite else contextlib.nullcontext():
            with self.engine.connect() as conn:
                conn = conn.execution_options(immediate=True)
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
                    yield Transaction(conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read transaction (several reads see one state of the database)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield Transaction(conn)

    # One-statement shortcuts.
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in its own write transaction; the number of rows it changed."""
        with self.write() as tx:
            return tx.execute(sql, params).rowcount

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.write() as tx:
            return tx.insert(sql, params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list:
        with self.read() as tx:
            return tx.all(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()):
        with self.read() as tx:
            return tx.one(sql, params)

    def scalar(self, sql: str, params: Sequence[Any] = ()):
        with self.read() as tx:
            return tx.scalar(sql, params)

    def vacuum_deleted(self) -> None:
        """After deleting personal data: on SQLite, fold the WAL into the file and truncate it, so no
        deleted text lingers there (``secure_delete`` already zeroes freed pages). PostgreSQL's own
        VACUUM reclaims dead rows; nothing to do here."""
        if self.is_sqlite:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sqlalchemy.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, future=True)
    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(
        url, future=True, connect_args={"check_same_thread": False},
        poolclass=StaticPool if memory else QueuePool, **({} if memory else {"pool_size": 5, "max_overflow": 10}))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # this module emits BEGIN itself
        cursor = dbapi_connection.cursor()
        for pragma in (f"busy_timeout={int(BUSY_TIMEOUT_MS)}", "journal_mode=WAL", "synchronous=NORMAL",
                       "secure_delete=ON", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")

    return engine


_opened: dict[str, Database] = {}
_opening = threading.Lock()


def database(target: "str | Path | Database") -> Database:
    """The process's :class:`Database` for a SQLite path or URL, brought to the newest schema on first use."""
    if isinstance(target, Database):
        return target
    url = url_for(target)
    with _opening:
        db = _opened.get(url)
        if db is None or (db.path is not None and not db.path.exists()):
            if db is not None:
                db.dispose()
            db = Database(url)
            migrate(db)
            if url != "sqlite://":  # each in-memory database is its own
                _opened[url] = db
        return db


def dispose_all() -> None:
    """Close the pooled connections of every database opened so far (they reopen on next use): the
    tests call it after each test, so hundreds of temporary databases do not hold file handles."""
    with _opening:
        opened = list(_opened.values())
    for db in opened:
        db.dispose()


def forget(target: "str | Path") -> None:
    """Close and forget a database opened by :func:`database` (tests that remove its file)."""
    with _opening:
        db = _opened.pop(url_for(target), None)
    if db is not None:
        db.dispose()


# -- migrations ------------------------------------------------------------------------

def alembic_config(db: Database):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current(db: Database) -> str | None:
    """The database's Alembic revision (None: a new database, or one made before Alembic)."""
    with db.engine.connect() as conn:
        if not sqlalchemy.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


@contextlib.contextmanager
def _migration_lock(db: Database) -> Iterator[Connection | None]:
    """Across processes: PostgreSQL's session advisory lock, or a lock file beside the SQLite file."""
    if not db.is_sqlite:
        with db.engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK})
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATE_LOCK})
                conn.commit()
        return
    if db.path is None:
        yield None
        return
    with open(f"{db.path}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=1)
def _head() -> str:
    return head()


def migrate(db: Database, revision: str = "head") -> None:
    """Bring ``db`` to ``revision`` (Alembic ``upgrade``); cheap when it is already there."""
    if revision == "head" and current(db) == _head():
        return
    from alembic import command

    with _migration_lock(db):
        if revision == "head" and current(db) == _head():
            return
        config = alembic_config(db)
        with db.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
        log.info("database migrated to %s", current(db))


def status(target: "str | Path") -> dict:
    """Where the app's data is, its revision and the newest one (``python -m bot db status``);
    does not migrate. The URL is shown without its password."""
    db = Database(url_for(target))
    try:
        return {"database": sqlalchemy.engine.make_url(db.url).render_as_string(hide_password=True),
                "dialect": db.dialect, "revision": current(db), "head": _head()}
    finally:
        db.dispose()


def upgrade(target: "str | Path", revision: str = "head") -> dict:
    """Bring the app's database to ``revision`` (``python -m bot db upgrade``); take a backup first
    (README, "Deploying for a city")."""
    db = Database(url_for(target))
    try:
        migrate(db, revision)
    finally:
        db.dispose()
    return status(target)


def add_db_commands(commands) -> None:
    """``python -m bot db status | upgrade [REVISION]``: the app's database and its migrations."""
    import json

    def show(result: dict) -> None:
        print(json.dumps(result, ensure_ascii=False))

    def run_status(_args) -> None:
        from bot import settings

        show(status(settings.load().app_database))

    def run_upgrade(args) -> None:
        from bot import settings

        show(upgrade(settings.load().app_database, args.revision))

    parser = commands.add_parser("db", help="the app's database (DATABASE_URL or BOT_DATA_DIR/bot.db): migrations")
    operations = parser.add_subparsers(dest="operation", required=True)
    operations.add_parser("status", help="the database, its Alembic revision and the newest one").set_defaults(
        func=run_status)
    up = operations.add_parser("upgrade", help="apply the migrations up to REVISION (default: the newest)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=run_upgrade)


def tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sqlalchemy.inspect(conn).get_table_names())


def rows(result: Iterable) -> list[dict]:
    return [dict(row) for row in result]

"""Reading a database that may not exist yet, the same way on SQLite and PostgreSQL
(``DATABASE_URL``): Rasa's tracker store through a SQLAlchemy URL (``tracker_engine``,
``open_tracker``, ``delete_tracker_events``), and the app's own database for the figures and a
citizen's data (``app_database``: ``bot.db``, or nothing when a fresh install has no file yet)."""

from __future__ import annotations

import contextlib
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Union

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from bot.db import Database

__all__ = ["app_database", "tracker_engine", "open_tracker", "delete_tracker_events", "is_sqlite", "sqlite_path",
           "EVENTS"]

EVENTS = "events"   # the table of Rasa's SQLTrackerStore


def app_database(target: "Path | str | Database") -> "Optional[Database]":
    """The app's database (``Settings.app_database``: the SQLite file, DATABASE_URL, or an open
    ``bot.db.Database``) through ``bot.db.database``, or ``None`` when it is a SQLite file that does
    not exist yet: a fresh install has nothing to read, and looking creates nothing."""
    from bot import db

    if isinstance(target, db.Database):
        return target
    if is_sqlite(target):
        path = sqlite_path(target)
        if path is not None and not path.exists():
            return None
    return db.database(target)


def is_sqlite(url: Union[str, Path]) -> bool:
    """Whether ``url`` names a SQLite database: a ``sqlite:`` URL, or a plain filesystem path."""
    return isinstance(url, Path) or "://" not in str(url) or sa.engine.make_url(str(url)).get_backend_name() == "sqlite"


def sqlite_path(url: Union[str, Path]) -> Optional[Path]:
    """The file of a SQLite URL or plain path (``None`` for an in-memory database or another dialect)."""
    if isinstance(url, Path) or "://" not in str(url):
        return Path(url)
    parsed = sa.engine.make_url(str(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _read_only_session(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


def tracker_engine(url: Union[str, Path], readonly: bool = True) -> Optional[Engine]:
    """A SQLAlchemy engine on Rasa's tracker store at ``url`` (``Settings.tracker_url``: a SQLAlchemy
    URL such as ``sqlite:////var/bot/rasa_tracker.db`` or ``postgresql://…``; a plain path means a
    SQLite file), or ``None`` when that SQLite file does not exist yet (Rasa never started).

    ``readonly``: a SQLite file is opened ``mode=ro`` (``sqlite:///file:PATH?mode=ro&uri=true``);
    a PostgreSQL session is ``READ ONLY`` (other dialects: not enforced).

    Not cached: the callers (the daily purge, staff pages) run seldom, so a new engine per call
    costs a connection (milliseconds) and leaves no idle PostgreSQL connections or open SQLite files
    in the bot's processes between calls. The caller disposes of it (``open_tracker`` does).
    """
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is None or not path.exists():
            return None
        if readonly:
            return sa.create_engine(f"sqlite:///file:{urllib.parse.quote(str(path))}?mode=ro&uri=true",
                                    connect_args={"timeout": 10})
        return sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 10})
    engine = sa.create_engine(str(url), pool_pre_ping=True)
    if readonly and engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _read_only_session)
    return engine


@contextlib.contextmanager
def open_tracker(url: Union[str, Path], readonly: bool = True) -> Iterator[Optional[Engine]]:
    """``tracker_engine(url, readonly)`` when its database has Rasa's ``events`` table, else ``None``
    (a fresh install counts as empty); the engine is disposed of on exit."""
    engine = tracker_engine(url, readonly=readonly)
    if engine is None:
        yield None
        return
    try:
        yield engine if sa.inspect(engine).has_table(EVENTS) else None
    finally:
        engine.dispose()


def delete_tracker_events(url: Union[str, Path], where: str, params: dict) -> int:
    """Delete the rows of Rasa's ``events`` table matching ``where`` (SQL with ``:named`` parameters;
    a list value is expanded for ``IN :name``), in one transaction; the number deleted, 0 when there
    is no tracker store yet. SQLite: with ``secure_delete`` on and the WAL checkpointed afterwards, so
    what citizens typed is left neither in free pages nor in the WAL file. Used by the daily purge
    (``bot.staff``) and by a citizen's deletion (``bot.privacy``)."""
    engine = tracker_engine(url, readonly=False)
    if engine is None:
        return 0
    statement = sa.text(f"DELETE FROM {EVENTS} WHERE {where}")
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            statement = statement.bindparams(sa.bindparam(name, expanding=True))
    try:
        sqlite = engine.dialect.name == "sqlite"
        with engine.connect() as conn:
            if sqlite:
                conn.execute(sa.text("PRAGMA secure_delete=ON"))
            with conn.begin():
                if not sa.inspect(conn).has_table(EVENTS):
                    return 0
                removed = conn.execute(statement, params).rowcount
            if sqlite:
                conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return removed
    finally:
        engine.dispose()

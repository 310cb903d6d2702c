"""The app's data layer (bot/db.py) on SQLite and PostgreSQL: migrations, one writer at a time, placeholders."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest
import sqlalchemy

from bot import db


def test_a_new_database_gets_every_table_at_the_newest_revision(app_database):
    database = db.database(app_database)
    assert db.current(database) == db.head()
    assert {"messages", "dossiers", "handovers", "accounts", "sessions", "outbox", "inbox", "access_log",
            "learning_annotations", "procedure_versions"} <= db.tables(database)
    db.forget(app_database)
    assert db.current(db.database(app_database)) == db.head()  # opening again changes nothing


def test_a_sqlite_file_from_before_alembic_is_upgraded_in_place(tmp_path):
    path = tmp_path / "bot.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL,
            channel TEXT NOT NULL DEFAULT 'web', direction TEXT NOT NULL, text TEXT NOT NULL DEFAULT '',
            payload TEXT, buttons TEXT, status TEXT NOT NULL DEFAULT 'ok', created_at TEXT NOT NULL);
        INSERT INTO messages (conversation_id, direction, text, created_at) VALUES ('c1', 'in', 'xin chào', 't');
        CREATE TABLE form_drafts (conversation_id TEXT PRIMARY KEY, procedure_id TEXT NOT NULL, form_id TEXT,
            answers TEXT NOT NULL, current_field TEXT, updated_at TEXT NOT NULL);
        CREATE TABLE procedure_versions (id INTEGER PRIMARY KEY, procedure_id TEXT, author TEXT, created TEXT,
            action TEXT, diff TEXT, text TEXT);
        INSERT INTO procedure_versions (procedure_id, author, action) VALUES ('ho-chieu', 'thu', 'save');
    """)
    old.commit()
    old.close()
    database = db.database(path)
    assert db.current(database) == db.head()
    row = database.one("SELECT * FROM messages")
    assert row["text"] == "xin chào" and row["attempts"] == 0 and row["author"] is None
    assert "last_message_id" in {c["name"] for c in sqlalchemy.inspect(database.engine).get_columns("form_drafts")}
    assert database.scalar("SELECT author FROM procedure_versions WHERE procedure_id = ?", ("ho-chieu",)) == "thu"


def _open_and_report(target: str, queue) -> None:
    try:
        queue.put(db.current(db.database(target)))
    except Exception as error:  # noqa: BLE001 — reported to the test
        queue.put(repr(error))


def test_processes_starting_together_on_a_fresh_database_migrate_it_once(app_database):
    """The bot app, the action server and several workers open the database at the same moment."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_open_and_report, args=(str(app_database), queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert results == [db.head()] * 4
    assert db.database(app_database).scalar("SELECT COUNT(*) FROM alembic_version") == 1


def test_writers_take_turns_so_a_read_then_write_loses_nothing(app_database):
    """Read-modify-write inside ``write()`` from 8 threads: every increment counts, on both engines
    (under PostgreSQL's READ COMMITTED without the advisory lock, some would be lost)."""
    database = db.database(app_database)
    database.execute("INSERT INTO dossier_counters (year, last) VALUES (?, ?)", (2099, 0))

    def bump():
        for _ in range(25):
            with database.write() as tx:
                last = tx.scalar("SELECT last FROM dossier_counters WHERE year = ?", (2099,))
                tx.execute("UPDATE dossier_counters SET last = ? WHERE year = ?", (last + 1, 2099))

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert database.scalar("SELECT last FROM dossier_counters WHERE year = ?", (2099,)) == 200


def test_a_failed_write_transaction_leaves_nothing_behind(app_database):
    database = db.database(app_database)
    with pytest.raises(db.ERRORS):
        with database.write() as tx:
            tx.insert("INSERT INTO messages (conversation_id, direction, text, created_at) VALUES (?, ?, ?, ?)"
                      " RETURNING id", ("c1", "in", "một", "t"))
            tx.execute("INSERT INTO messages (conversation_id, direction, text, created_at) VALUES (?, ?, ?, ?)",
                       ("c1", "sideways", "hai", "t"))  # CHECK (direction IN ('in', 'out'))
    assert database.scalar("SELECT COUNT(*) FROM messages") == 0


def test_question_marks_inside_quotes_are_text_not_placeholders(tmp_path):
    database = db.database(tmp_path / "bot.db")
    new = database.insert("INSERT INTO messages (conversation_id, direction, text, created_at)"
                          " VALUES (?, 'in', 'có không?', ?) RETURNING id", ("c1", "t"))
    assert database.one("SELECT text FROM messages WHERE id = ?", (new,))["text"] == "có không?"
    with pytest.raises(ValueError):
        database.all("SELECT * FROM messages WHERE id = ?", ())


def test_status_names_the_database_without_its_password(postgres_url):
    from tests.servers import create_database

    url = sqlalchemy.engine.make_url(create_database(postgres_url, "app_status_check"))
    shown = db.status(url.set(password="s3cret-p4ss").render_as_string(hide_password=False))
    assert "s3cret-p4ss" not in shown["database"] and shown["dialect"] == "postgresql"
    assert shown["revision"] is None and shown["head"] == db.head()
    upgraded = db.upgrade(str(url))
    assert upgraded["revision"] == upgraded["head"]


async def test_a_database_that_went_away_gets_the_citizen_a_polite_answer_not_an_error(tmp_path):
    """PostgreSQL unreachable (a closed port) while a citizen writes: they are told the message was not
    saved and to send it again; nothing reaches Rasa, nothing raises."""
    from bot.conversations import NOT_SAVED, Router
    from bot.store import MessageStore

    class NoRasa:
        async def send(self, *args, **kwargs):
            raise AssertionError("a message that was not stored must not be sent")

    store = MessageStore(tmp_path / "bot.db")
    store.db = db.Database("postgresql://bot@127.0.0.1:1/bot")   # the server went away
    turn = await Router(store, NoRasa()).handle("c" * 32, "làm hộ chiếu cần giấy tờ gì")
    assert [reply["text"] for reply in turn.replies] == [NOT_SAVED]

"""The audit log of staff access to citizens' data: table ``access_log`` in the app's database
(``bot/db.py``: the SQLite file or ``DATABASE_URL``; the table is the migration's).

One row each time a volunteer, supervisor, staff member or admin reads a conversation's messages
or a dossier through the console or the staff APIs, and for every privacy export or deletion
(``bot.privacy``, from the admin API or the CLI):

    at      when (UTC, ISO)
    who     the account's username ("staff-api" for the bearer-token staff API, the OS user for the CLI)
    role    its role (volunteer, supervisor, staff, admin; "api"; "cli")
    what    "conversation" | "dossier" | "privacy_export" | "privacy_delete"
    target  the id acted on, as it is (conversation id or dossier code) — never any content
    route   the route template ("/console/api/conversations/{conversation_id}") or the CLI command

Entries older than ACCESS_LOG_RETENTION_DAYS are deleted by the daily purge (``bot.staff.purge``).
The log is kept when a citizen's data is deleted: it holds no content, only who looked at which
id, and it must show the deletion itself.

Where it is written: ``bot.console`` (a conversation opened, or returned after claim / assign /
release / close), the staff API's dossier routes in ``bot.app`` (wrapped with ``audited``), and
``bot.privacy``. Not logged: the console's lists (each shows a chat's last message) and its event
stream (new messages of the chats a volunteer may see), which a volunteer needs open all day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot import db as dbmod

__all__ = ["AccessLog", "Accessor", "WHAT", "for_app", "audited", "route_template"]

WHAT = ("conversation", "dossier", "privacy_export", "privacy_delete")
MAX_FIELD = 200


@dataclass(frozen=True)
class Accessor:
    """Who acts, as the audit log records it: username, role and the route (or CLI command)."""

    who: str
    role: str
    route: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


class AccessLog:
    """The ``access_log`` table (thread-safe; ``clock`` returns an aware datetime).

    ``path``: a SQLite file, a SQLAlchemy URL (``DATABASE_URL``) or an open ``bot.db.Database``."""

    def __init__(self, path: "Path | str | dbmod.Database", clock: Callable[[], dt.datetime] = _now):
        self.db = dbmod.database(path)
        self._clock = clock

    def close(self) -> None:
        """Nothing to close: the process's ``Database`` is shared by every store (``bot.db``)."""

    def record(self, who: str, role: str, what: str, target: str, route: str) -> int:
        """One entry; ``target`` is the id acted on (kept as it is, cut at 200 characters)."""
        if what not in WHAT:
            raise ValueError(what)
        values = [str(v or "")[:MAX_FIELD] for v in (who, role, target, route)]
        return self.db.insert(
            "INSERT INTO access_log (at, who, role, what, target, route) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (_iso(self._clock()), values[0], values[1], what, values[2], values[3]))

    def record_for(self, accessor: Accessor, what: str, target: str) -> int:
        return self.record(accessor.who, accessor.role, what, target, accessor.route)

    def entries(self, limit: int = 100, who: str | None = None, target: str | None = None) -> list[dict]:
        """Newest first, optionally of one account or about one id."""
        query, params = "SELECT id, at, who, role, what, target, route FROM access_log WHERE 1 = 1", []
        if who:
            query += " AND who = ?"
            params.append(who)
        if target:
            query += " AND target = ?"
            params.append(target)
        query += " ORDER BY id DESC LIMIT ?"
        params.append(max(1, int(limit)))
        return [dict(row) for row in self.db.all(query, params)]

    def purge(self, older_than_days: int, now: dt.datetime | None = None) -> int:
        """Delete entries older than ``older_than_days``; how many went."""
        cutoff = _iso((now or self._clock()) - dt.timedelta(days=older_than_days))
        removed = self.db.execute("DELETE FROM access_log WHERE at < ?", (cutoff,))
        self.db.vacuum_deleted()
        return removed


_APP_LOCK = threading.Lock()


def for_app(app) -> AccessLog:
    """The app's ``AccessLog`` (``app.state.access_log``), opened on first use on ``config.app_database``."""
    with _APP_LOCK:
        log = getattr(app.state, "access_log", None)
        if log is None:
            log = app.state.access_log = AccessLog(app.state.config.app_database)
        return log


def route_template(request: Request) -> str:
    """The route template the request matched ("/api/staff/dossiers/{code}"), never the path itself."""
    endpoint = request.scope.get("endpoint")
    for route in getattr(request.app, "routes", ()):
        if endpoint is not None and getattr(route, "endpoint", None) is endpoint:
            return route.path
    return request.scope.get("path", "")[:MAX_FIELD]


async def record(request: Request, accessor: Accessor, what: str, target: str) -> None:
    """Record from a route (in the thread pool); a failure to write is an error, never silent."""
    await run_in_threadpool(for_app(request.app).record_for, accessor, what, target)


def audited(handler: Callable[[Request], Awaitable[Response]], what: str, param: str,
            normalise: Callable[[str], str] = lambda value: value,
            who: str = "staff-api", role: str = "api") -> Callable[[Request], Awaitable[Response]]:
    """``handler`` that records an entry after every 2xx answer: ``target`` is the path parameter
    ``param`` (through ``normalise``). For routes whose caller has no account (the staff API's
    bearer token): ``who`` and ``role`` name the token."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        response = await handler(request)
        if 200 <= response.status_code < 300:
            target = request.path_params.get(param, "")
            with contextlib.suppress(Exception):
                target = normalise(target)
            await record(request, Accessor(who, role, route_template(request)), what, target)
        return response

    return endpoint

"""Accounts of volunteers, supervisors, admins and staff: passwords, sessions, lock-out, CLI.

The library behind the volunteer console's login (``bot.auth`` is its thin HTTP side) and the
``python -m bot accounts …`` commands. Everything lives in the app's database (``bot/db.py``:
``config.app_database``, the SQLite file or ``DATABASE_URL``; the tables are the migration's)::

    store = AccountStore.from_settings(config)
    store.add("lan.nguyen", "mật khẩu đủ dài", "volunteer", team="phuong-ben-thanh", display_name="Nguyễn Thị Lan")
    account = store.authenticate("Lan.Nguyen", "mật khẩu đủ dài", client="203.0.113.7")
    token, csrf = store.create_session(account)      # token goes in the cookie, csrf to the page
    store.session(token)                             # Session, or None when expired / ended / disabled

Tables (created by ``bot/migrations``):

- ``accounts``: username (3–32 of a-z 0-9 . _ -, stored lower-case, unique whatever the case),
  argon2id hash (``argon2.PasswordHasher``; re-hashed on login when its parameters are outdated),
  role (``ROLES``), team (a ward slug such as ``phuong-ben-thanh``: required for volunteers and
  supervisors), display name, disabled flag, created / updated times.
- ``sessions``: the SHA-256 of a random token (the token itself is never stored), the username,
  the page's CSRF token, created / last seen / expiry. A session ends after ``SESSION_SECONDS``
  (12 h) whatever happens, after ``IDLE_SECONDS`` (2 h) without a request, at logout, when the
  password is changed and when the account is disabled.
- ``auth_events``: login ok / failed / locked / disabled / throttled, logout, and account changes,
  with time and username — the username only when such an account exists (people type passwords
  into the username field), never a password, the client address only as an HMAC digest.

Passwords: at least ``MIN_PASSWORD`` (12, OWASP ASVS 2.1.1) characters, at most ``MAX_PASSWORD``, not
the username (checked first, so a short copy of the username is told so); older, shorter passwords
still log in until they are changed;
compared after Unicode NFC normalisation, so Vietnamese typed with composed or decomposed
diacritics is the same password.

Lock-out (persisted through ``bot.ratelimit``: ``config.limits_db``, or Redis with REDIS_URL; keys HMAC'd):
``LOCK_AFTER`` (5) wrong passwords for one username within ``LOCK_WINDOW`` (15 min) lock it for
``LOCK_SECONDS`` (15 min) — a correct password is refused too, and a restart changes nothing.
Unknown usernames lock the same way and cost the same argon2 verification (of a dummy hash), so
neither the answer nor its timing tells whether an account exists. One client address gets at most
``CLIENT_FAILURES`` (20) failed logins per ``LOCK_WINDOW``, refused before any hashing, so one
address cannot lock many accounts quickly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import sqlalchemy.exc
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot import db as dbmod
from bot.clock import VN_TZ
from bot.ratelimit import RateLimiter

__all__ = [
    "ROLES", "TEAM_ROLES", "Account", "Session", "AccountStore", "add_accounts_commands",
    "AccountError", "InvalidUsername", "DuplicateAccount", "AccountNotFound", "WeakPassword", "UnknownRole",
    "InvalidTeam", "AuthError", "LoginFailed", "AccountLocked", "AccountDisabled", "LoginThrottled",
]

ROLES = ("volunteer", "supervisor", "admin", "staff")
TEAM_ROLES = frozenset({"volunteer", "supervisor"})
ROLE_LABELS = {"volunteer": "tình nguyện viên", "supervisor": "giám sát viên", "admin": "quản trị viên",
               "staff": "cán bộ"}
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
MAX_DISPLAY_NAME = 100
SESSION_SECONDS = 12 * 3600      # absolute lifetime of a session
IDLE_SECONDS = 2 * 3600          # a session unused this long ends
TOUCH_EVERY = 60                 # last_seen is written at most once a minute per session
LOCK_AFTER, LOCK_WINDOW, LOCK_SECONDS = 5, 15 * 60, 15 * 60
CLIENT_FAILURES = 20             # failed logins per LOCK_WINDOW from one client address
MAX_TOKEN_CHARS = 200

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$", re.ASCII)
_TEAM = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", re.ASCII)
MAX_TEAM = 64


# --- errors (messages in Vietnamese: they reach the CLI user or the console page) -------------

class AccountError(ValueError):
    """A refused account operation; ``str(error)`` is the Vietnamese message."""


class InvalidUsername(AccountError):
    def __init__(self, username: str):
        super().__init__(f"Tên đăng nhập “{username}” không hợp lệ: cần 3–32 ký tự gồm chữ không dấu, số, "
                         "dấu chấm, gạch dưới hoặc gạch ngang, bắt đầu bằng chữ hoặc số.")


class DuplicateAccount(AccountError):
    def __init__(self, username: str):
        super().__init__(f"Tài khoản “{username}” đã tồn tại.")


class AccountNotFound(AccountError):
    def __init__(self, username: str):
        super().__init__(f"Không tìm thấy tài khoản “{username}”.")


class WeakPassword(AccountError):
    pass


class UnknownRole(AccountError):
    def __init__(self, role: str):
        choices = ", ".join(f"{name} ({label})" for name, label in ROLE_LABELS.items())
        super().__init__(f"Vai trò “{role}” không hợp lệ. Chọn một trong: {choices}.")


class InvalidTeam(AccountError):
    pass


class AuthError(Exception):
    """A refused login; ``str(error)`` is the Vietnamese message."""


class LoginFailed(AuthError):
    def __init__(self) -> None:
        super().__init__("Tên đăng nhập hoặc mật khẩu không đúng.")


def _vn_time(when: dt.datetime) -> str:
    return when.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y")


class AccountLocked(AuthError):
    """Too many wrong passwords for this username: refused (even the right one) until ``until``."""

    def __init__(self, until: dt.datetime):
        self.until = until
        super().__init__("Tài khoản đang tạm khóa vì nhập sai mật khẩu quá nhiều lần. "
                         f"Bạn vui lòng thử lại sau {_vn_time(until)} (giờ Việt Nam).")


class LoginThrottled(AuthError):
    """Too many failed logins from this client address: refused until ``until``."""

    def __init__(self, until: dt.datetime):
        self.until = until
        super().__init__("Có quá nhiều lần đăng nhập sai từ địa chỉ này. "
                         f"Bạn vui lòng thử lại sau {_vn_time(until)} (giờ Việt Nam).")


class AccountDisabled(AuthError):
    def __init__(self) -> None:
        super().__init__("Tài khoản này đã bị vô hiệu hóa. Bạn vui lòng liên hệ quản trị viên.")


# --- records ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Account:
    username: str
    role: str
    team: str | None
    display_name: str | None
    disabled: bool
    created_at: str
    updated_at: str

    def public(self) -> dict:
        return {"username": self.username, "role": self.role, "team": self.team,
                "display_name": self.display_name}


@dataclass(frozen=True)
class Session:
    """A live login. Holds no token: only what the routes need, and the page's CSRF token."""

    account: Account
    csrf_token: str = field(repr=False)
    created_at: float
    last_seen: float
    expires_at: float     # the earlier of the absolute and the idle expiry, as of last_seen

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def team(self) -> str | None:
        return self.account.team


# --- validation ---------------------------------------------------------------------------------

def normalize_username(username: object) -> str:
    """The stored form of a username (lower-case ASCII), or ``InvalidUsername``."""
    text = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.match(text):
        raise InvalidUsername(str(username)[:40])
    return text


def _password(password: str, username: str) -> str:
    """The password as hashed (NFC), or ``WeakPassword``."""
    if not isinstance(password, str):
        raise WeakPassword("Mật khẩu phải là một chuỗi ký tự.")
    password = unicodedata.normalize("NFC", password)
    if password.strip().casefold() == username.casefold():
        raise WeakPassword("Mật khẩu không được trùng với tên đăng nhập.")
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự.")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"Mật khẩu quá dài (tối đa {MAX_PASSWORD} ký tự).")
    return password


def _team(role: str, team: str | None) -> str | None:
    team = team.strip() if isinstance(team, str) and team.strip() else None
    if team is None:
        if role in TEAM_ROLES:
            raise InvalidTeam(f"Vai trò {role} ({ROLE_LABELS[role]}) cần có đội: mã phường, "
                              "ví dụ “phuong-ben-thanh”.")
        return None
    if len(team) > MAX_TEAM or not _TEAM.match(team):
        raise InvalidTeam(f"Mã đội “{team[:MAX_TEAM]}” không hợp lệ: chỉ dùng chữ thường không dấu, số và "
                          "dấu gạch ngang, ví dụ “phuong-ben-thanh”.")
    return team


def _display_name(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    if len(name) > MAX_DISPLAY_NAME:
        raise AccountError(f"Tên hiển thị quá dài (tối đa {MAX_DISPLAY_NAME} ký tự).")
    return name


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _create_private(path: Path) -> None:
    """Create ``path`` with mode 0600 if it does not exist (SQLite gives -wal/-shm the same mode)."""
    if str(path) == ":memory:":
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _sqlite_file(target: "Path | str | dbmod.Database") -> Path | None:
    """The SQLite file ``target`` names (a path or a ``sqlite:///`` URL), else None (PostgreSQL,
    in memory, or an already open ``Database``)."""
    if isinstance(target, dbmod.Database):
        return None
    url = sqlalchemy.engine.make_url(dbmod.url_for(target))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


# --- the store ----------------------------------------------------------------------------------

class AccountStore:
    """Accounts, sessions and login events in the app's database (thread-safe).

    ``path``: a SQLite file, a SQLAlchemy URL (``DATABASE_URL``) or an open ``bot.db.Database``.
    ``limits`` counts failed logins (default: ``limits.db`` next to a SQLite ``path``; required
    on PostgreSQL); ``secret`` keys the digests of client addresses (default: a random key kept in
    the database); ``clock`` returns epoch seconds and should be the limiter's clock too;
    ``hasher`` is an argon2 ``PasswordHasher`` (tests pass cheap parameters).
    """

    def __init__(self, path: "Path | str | dbmod.Database", *, limits: RateLimiter | None = None,
                 secret: str | None = None, clock: Callable[[], float] = time.time,
                 hasher: PasswordHasher | None = None, session_seconds: float = SESSION_SECONDS,
                 idle_seconds: float = IDLE_SECONDS):
        file = _sqlite_file(path)
        if file is not None and not file.exists():
            dbmod.forget(path)      # a Database still open on a removed file would not see the new one
            _create_private(file)   # before SQLite creates it (and its -wal, -shm) with the umask's mode
        self.db = dbmod.database(path)
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self.session_seconds, self.idle_seconds = session_seconds, idle_seconds
        self._secret = (secret or self._stored_secret()).encode()
        if limits is None:
            if self.db.path is not None:
                limits_path: Path | str = self.db.path.parent / "limits.db"
                _create_private(limits_path)
            elif self.db.is_sqlite:
                limits_path = ":memory:"
            else:
                raise ValueError("AccountStore on PostgreSQL needs limits= (a RateLimiter on a file that outlives"
                                 " the process, as from_settings opens)")
            limits = RateLimiter(limits_path, clock=clock, key_secret=self._secret.decode())
        self.limits = limits
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, config, *, clock: Callable[[], float] = time.time, **kwargs) -> "AccountStore":
        """The store of a deployment: ``config.app_database``, lock-outs in the deployment's limiter
        (``bot.ratelimit.for_config``: Redis with REDIS_URL, so every machine sees them, else ``config.limits_db``)."""
        from bot import ratelimit
        from bot.settings import ensure_private_dir

        ensure_private_dir(config.data_dir)
        if not config.redis_url:
            _create_private(config.limits_db)
        limits = ratelimit.for_config(config, clock=clock, key_secret=config.derived_secret("rate-limit"))
        return cls(config.app_database, limits=limits, secret=config.derived_secret("auth-client"), clock=clock,
                   **kwargs)

    def now(self) -> float:
        """The store's clock (epoch seconds)."""
        return self._clock()

    def close(self) -> None:
        """Nothing to close: the process's ``Database`` is shared by every store (``bot.db``)."""

    # -- helpers --

    def _stored_secret(self) -> str:
        stored = self.db.scalar("SELECT value FROM auth_meta WHERE name = 'client-key'")
        if stored is not None:
            return stored
        with self.db.write() as tx:
            tx.execute("INSERT INTO auth_meta (name, value) VALUES ('client-key', ?) ON CONFLICT (name) DO NOTHING",
                       (secrets.token_urlsafe(32),))
            return tx.scalar("SELECT value FROM auth_meta WHERE name = 'client-key'")

    def _now_iso(self) -> str:
        return dt.datetime.fromtimestamp(self._clock(), dt.timezone.utc).isoformat(timespec="seconds")

    def _client_digest(self, client: str | None) -> str | None:
        if not client:
            return None
        return hmac.new(self._secret, client.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]

    def _event(self, event: str, username: str | None, client: str | None = None) -> None:
        self.db.execute("INSERT INTO auth_events (at, event, username, client) VALUES (?, ?, ?, ?)",
                        (self._now_iso(), event, username, client))

    def _row(self, username: str):
        """The ``accounts`` row (a mapping) of a normalised username, or None."""
        return self.db.one("SELECT * FROM accounts WHERE username = ?", (username,))

    @staticmethod
    def _account(row) -> Account:
        return Account(username=row["username"], role=row["role"], team=row["team"],
                       display_name=row["display_name"], disabled=bool(row["disabled"]),
                       created_at=row["created_at"], updated_at=row["updated_at"])

    def _existing(self, username: str) -> str:
        name = normalize_username(username)
        if self._row(name) is None:
            raise AccountNotFound(name)
        return name

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _since(self, key: str, window: float) -> float | None:
        """When the oldest hit of ``key`` in the last ``window`` seconds was counted (None: none)."""
        since = self._clock() - window
        return min((at for _, at in self.limits.hits([key]) if at > since), default=None)

    @staticmethod
    def _when(epoch: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)

    # -- accounts --

    def add(self, username: str, password: str, role: str, team: str | None = None,
            display_name: str | None = None) -> Account:
        """A new account; ``AccountError`` (Vietnamese message) when a field is refused."""
        name = normalize_username(username)
        if role not in ROLES:
            raise UnknownRole(str(role))
        team = _team(role, team)
        display_name = _display_name(display_name)
        password_hash = self._hasher.hash(_password(password, name))
        now = self._now_iso()
        try:
            self.db.execute(
                "INSERT INTO accounts (username, password_hash, role, team, display_name, disabled, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (name, password_hash, role, team, display_name, now, now))
        except sqlalchemy.exc.IntegrityError as error:
            raise DuplicateAccount(name) from error
        self._event("account_added", name)
        return self.get(name)

    def get(self, username: str) -> Account:
        name = normalize_username(username)
        row = self._row(name)
        if row is None:
            raise AccountNotFound(name)
        return self._account(row)

    def list(self) -> list[Account]:
        # Roles, teams and usernames are ASCII: the same order on both engines; no team first on both.
        rows = self.db.all("SELECT * FROM accounts ORDER BY role, COALESCE(team, ''), username")
        return [self._account(row) for row in rows]

    def _set_disabled(self, username: str, disabled: bool) -> Account:
        name = self._existing(username)
        with self.db.write() as tx:   # one transaction: no session check sees the account disabled but alive
            tx.execute("UPDATE accounts SET disabled = ?, updated_at = ? WHERE username = ?",
                       (int(disabled), self._now_iso(), name))
            if disabled:
                tx.execute("DELETE FROM sessions WHERE username = ?", (name,))
        self._event("disabled" if disabled else "enabled", name)
        return self.get(name)

    def disable(self, username: str) -> Account:
        """Refuse the account's logins and end its sessions."""
        return self._set_disabled(username, True)

    def enable(self, username: str) -> Account:
        return self._set_disabled(username, False)

    def set_password(self, username: str, password: str) -> Account:
        """A new password; every session of the account ends and a lock-out is lifted."""
        name = self._existing(username)
        password_hash = self._hasher.hash(_password(password, name))
        with self.db.write() as tx:
            tx.execute("UPDATE accounts SET password_hash = ?, updated_at = ? WHERE username = ?",
                       (password_hash, self._now_iso(), name))
            tx.execute("DELETE FROM sessions WHERE username = ?", (name,))
        self.unlock(name)
        self._event("password_changed", name)
        return self.get(name)

    def unlock(self, username: str) -> None:
        """Lift a lock-out of ``username`` and forget its failed logins."""
        name = normalize_username(username)
        self.limits.reset(f"login:{name}")
        self.limits.reset(f"login-lock:{name}")

    def locked_until(self, username: str) -> dt.datetime | None:
        """When the lock-out of ``username`` ends, or None when it is not locked."""
        try:
            name = normalize_username(username)
        except InvalidUsername:
            return None
        since = self._since(f"login-lock:{name}", LOCK_SECONDS)
        return None if since is None else self._when(since + LOCK_SECONDS)

    def events(self, username: str | None = None, limit: int = 100) -> list[dict]:
        """The latest login events (newest first), of one account or all."""
        query, params = "SELECT at, event, username, client FROM auth_events", []
        if username is not None:
            query, params = query + " WHERE username = ?", [normalize_username(username)]
        rows = self.db.all(query + " ORDER BY id DESC LIMIT ?", (*params, int(limit)))
        return [dict(row) for row in rows]

    # -- login --

    def authenticate(self, username: str, password: str, client: str | None = None) -> Account:
        """The account when ``password`` is right and nothing forbids the login.

        Raises ``LoginThrottled`` (this client failed too often: checked first, no hashing),
        ``AccountLocked`` (this username failed too often: even a right password is refused),
        ``LoginFailed`` (wrong password or unknown username: same message, same work) or
        ``AccountDisabled`` (only once the password was right).
        """
        client_digest = self._client_digest(client)
        client_key = f"login-client:{client_digest}" if client_digest else None
        if client_key and self.limits.blocked(client_key, CLIENT_FAILURES, LOCK_WINDOW):
            since = self._since(client_key, LOCK_WINDOW) or self._clock()
            self._event("login_throttled", None, client_digest)
            raise LoginThrottled(self._when(since + LOCK_WINDOW))
        try:
            name = normalize_username(username)
        except InvalidUsername:
            name = None
        row = self._row(name) if name else None
        known = row["username"] if row is not None else None
        if name and (until := self.locked_until(name)) is not None:
            self._event("login_locked", known, client_digest)
            raise AccountLocked(until)
        # The attempt is counted before hashing, atomically: parallel requests cannot get more than
        # LOCK_AFTER guesses in; a right password takes the count back to zero.
        if name and not self.limits.allow(f"login:{name}", LOCK_AFTER, LOCK_WINDOW):
            raise self._lock_out(name, known, client_digest)
        if name and (until := self.locked_until(name)) is not None:   # locked by a parallel request meanwhile
            self._event("login_locked", known, client_digest)
            raise AccountLocked(until)
        password = unicodedata.normalize("NFC", password) if isinstance(password, str) else ""
        if len(password) > MAX_PASSWORD:
            password = ""   # never hash megabytes; the dummy verification below still runs
        ok = self._verify(row["password_hash"] if row is not None else self._dummy(), password)
        if not (ok and row is not None and password):
            self._failed(name, known, client_key, client_digest)
        if row["disabled"]:
            self._event("login_disabled", known, client_digest)
            raise AccountDisabled()
        if self._hasher.check_needs_rehash(row["password_hash"]):
            new_hash = self._hasher.hash(password)
            self.db.execute("UPDATE accounts SET password_hash = ? WHERE username = ?", (new_hash, known))
        self.limits.reset(f"login:{known}")
        self._event("login_ok", known, client_digest)
        return self._account(row)

    def _failed(self, name: str | None, known: str | None, client_key: str | None,
                client_digest: str | None) -> None:
        if client_key:
            self.limits.record(client_key)
        if name and self.limits.blocked(f"login:{name}", LOCK_AFTER, LOCK_WINDOW):
            raise self._lock_out(name, known, client_digest)
        self._event("login_failed", known, client_digest)
        raise LoginFailed()

    def _lock_out(self, name: str, known: str | None, client_digest: str | None) -> AccountLocked:
        """Lock ``name`` for LOCK_SECONDS from now (unless a parallel request just did)."""
        if self.locked_until(name) is None:
            self.limits.record(f"login-lock:{name}")
            self._event("locked", known, client_digest)
        self.limits.reset(f"login:{name}")   # after the lock, counting starts again
        return AccountLocked(self.locked_until(name) or self._when(self._clock() + LOCK_SECONDS))

    # -- sessions --

    def create_session(self, account: Account) -> tuple[str, str]:
        """A new session for ``account``: ``(session_token, csrf_token)``; only the token's hash is kept."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = float(self._clock())
        with self.db.write() as tx:
            tx.execute("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?", (now, now - self.idle_seconds))
            tx.execute(
                "INSERT INTO sessions (id, username, csrf_token, created_at, last_seen, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (_token_id(token), account.username, csrf, now, now, now + self.session_seconds))
        return token, csrf

    def session(self, token: object) -> Session | None:
        """The live session of ``token`` (its last-seen time touched), else None: unknown, ended,
        expired (absolute or idle) or its account disabled.

        One read decides; logout, a new password and disabling delete the sessions in their own
        transaction, so the read sees a session either live or gone. When the last-seen time is
        written, the update must find the row: a session ended between the read and the write is
        refused too."""
        if not (isinstance(token, str) and token.isascii() and 0 < len(token) <= MAX_TOKEN_CHARS):
            return None
        key, now = _token_id(token), float(self._clock())
        row = self.db.one(
            "SELECT s.csrf_token, s.created_at AS session_created_at, s.last_seen, s.expires_at, a.username, a.role,"
            " a.team, a.display_name, a.disabled, a.created_at, a.updated_at FROM sessions s"
            " JOIN accounts a ON a.username = s.username WHERE s.id = ?", (key,))
        if row is None:
            return None
        if row["disabled"] or now >= row["expires_at"] or now >= row["last_seen"] + self.idle_seconds:
            self.db.execute("DELETE FROM sessions WHERE id = ?", (key,))
            return None
        last_seen = row["last_seen"]
        if now - last_seen >= TOUCH_EVERY:
            if not self.db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (now, key)):
                return None   # ended meanwhile
            last_seen = now
        return Session(account=self._account(row), csrf_token=row["csrf_token"],
                       created_at=row["session_created_at"], last_seen=last_seen,
                       expires_at=min(row["expires_at"], last_seen + self.idle_seconds))

    def end_session(self, token: object, client: str | None = None) -> None:
        """Log out: the session of ``token`` ends (nothing happens for an unknown token)."""
        if not (isinstance(token, str) and token.isascii() and 0 < len(token) <= MAX_TOKEN_CHARS):
            return
        key = _token_id(token)
        with self.db.write() as tx:
            username = tx.scalar("SELECT username FROM sessions WHERE id = ?", (key,))
            tx.execute("DELETE FROM sessions WHERE id = ?", (key,))
        if username is not None:
            self._event("logout", username, self._client_digest(client))

    def end_sessions(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        return self.db.execute("DELETE FROM sessions WHERE username = ?", (normalize_username(username),))


# --- command line: python -m bot accounts … ------------------------------------------------------

def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise AccountError("Không đọc được mật khẩu từ đầu vào chuẩn (cần một dòng).")
        return password
    first = getpass.getpass("Mật khẩu mới: ")
    second = getpass.getpass("Nhập lại mật khẩu: ")
    if not hmac.compare_digest(first.encode(), second.encode()):
        raise AccountError("Hai lần nhập mật khẩu không khớp.")
    return first


def _state_label(account: Account) -> str:
    return "đã vô hiệu hóa" if account.disabled else "đang hoạt động"


def _cmd_add(store: AccountStore, args: argparse.Namespace) -> None:
    # Everything but the password is checked first, so nobody types a password for nothing.
    name = normalize_username(args.username)
    if args.role not in ROLES:
        raise UnknownRole(args.role)
    _team(args.role, args.team)
    _display_name(args.name)
    if store._row(name) is not None:
        raise DuplicateAccount(name)
    account = store.add(name, _read_password(args), args.role, team=args.team, display_name=args.name)
    team = f", đội {account.team}" if account.team else ""
    print(f"Đã tạo tài khoản “{account.username}” ({ROLE_LABELS[account.role]}{team}).")


def _cmd_list(store: AccountStore, args: argparse.Namespace) -> None:
    accounts = store.list()
    if args.json:
        print(json.dumps([asdict(a) for a in accounts], ensure_ascii=False, indent=2))
        return
    for a in accounts:
        print(f"{a.username:<24} {a.role:<11} {a.team or '-':<24} {_state_label(a):<15} {a.display_name or ''}")
    if not accounts:
        print("Chưa có tài khoản nào.")


def _cmd_disable(store: AccountStore, args: argparse.Namespace) -> None:
    account = store.disable(args.username)
    print(f"Đã vô hiệu hóa tài khoản “{account.username}” và kết thúc mọi phiên đăng nhập của tài khoản này.")


def _cmd_enable(store: AccountStore, args: argparse.Namespace) -> None:
    account = store.enable(args.username)
    print(f"Đã kích hoạt lại tài khoản “{account.username}”.")


def _cmd_set_password(store: AccountStore, args: argparse.Namespace) -> None:
    name = store._existing(args.username)
    account = store.set_password(name, _read_password(args))
    print(f"Đã đổi mật khẩu của “{account.username}”; mọi phiên đăng nhập cũ đã kết thúc.")


def _cmd_unlock(store: AccountStore, args: argparse.Namespace) -> None:
    store.unlock(args.username)
    print(f"Đã mở khóa đăng nhập cho “{normalize_username(args.username)}”.")


def cmd_accounts(args: argparse.Namespace) -> None:
    from bot import settings

    try:
        store = AccountStore.from_settings(settings.load())
        try:
            args.account_operation(store, args)
        finally:
            store.close()
    except AccountError as error:
        sys.exit(str(error))
    except (KeyboardInterrupt, EOFError):
        sys.exit("Đã hủy.")


def add_accounts_commands(commands) -> None:
    """``accounts add | list | disable | enable | set-password | unlock`` on an argparse subparsers object."""
    accounts = commands.add_parser("accounts", help="accounts of volunteers, supervisors, admins and staff")
    accounts.set_defaults(func=cmd_accounts)
    operations = accounts.add_subparsers(dest="accounts_operation_name", required=True)

    add = operations.add_parser("add", help="create an account (password asked twice, or --password-stdin)")
    add.add_argument("username", help="3-32 of a-z 0-9 . _ - (case does not matter)")
    add.add_argument("--role", required=True, help="volunteer | supervisor | admin | staff")
    add.add_argument("--team", help='ward slug, e.g. "phuong-ben-thanh" (required for volunteer, supervisor)')
    add.add_argument("--name", help='display name, e.g. "Nguyễn Văn A"')
    add.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    add.set_defaults(account_operation=_cmd_add)

    listing = operations.add_parser("list", help="every account (never a password)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(account_operation=_cmd_list)

    for name, operation, text in (("disable", _cmd_disable, "refuse logins and end the account's sessions"),
                                  ("enable", _cmd_enable, "allow logins again"),
                                  ("unlock", _cmd_unlock, "lift a lock-out after too many wrong passwords")):
        parser = operations.add_parser(name, help=text)
        parser.add_argument("username")
        parser.set_defaults(account_operation=operation)

    set_password = operations.add_parser("set-password", help="new password; ends the account's sessions")
    set_password.add_argument("username")
    set_password.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    set_password.set_defaults(account_operation=_cmd_set_password)

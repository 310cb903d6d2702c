"""Real PostgreSQL and Redis servers for tests, on free loopback ports, without Docker.

``postgres_server()`` starts a fresh cluster (``initdb`` into a temporary folder, ``pg_ctl start``)
that listens on 127.0.0.1 only and trusts loopback clients; ``redis_server()`` starts
``redis-server`` without persistence. Both are stopped and their folders removed on exit.

The binaries come from the Debian packages ``postgresql`` and ``redis-server``
(``scripts/install.sh`` installs them when run as root). When they are missing this module
raises instead of skipping: a test run that silently skipped the PostgreSQL tests would look green.

``initdb`` refuses to run as root: when the tests run as root, the PostgreSQL programs run as the
``postgres`` system user (``runuser -u postgres --``) and the temporary folder is owned by it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

from bot.processes import free_port

__all__ = ["postgres_server", "redis_server", "create_database", "pg_bin_dir", "REDIS_SERVER"]

PG_USER = "bot"          # the cluster's superuser (initdb -U)
PG_DATABASE = "bot"      # the database the yielded URL names
REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT = 60.0


class ServerMissing(RuntimeError):
    """A server binary is not installed."""


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")
             if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()]
    if not found:
        raise ServerMissing("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                            "run scripts/install.sh as root, or apt-get install postgresql")
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _as_postgres(argv: list[str]) -> list[str]:
    """``argv`` run as the ``postgres`` system user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(_as_postgres(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=START_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port; yields
    ``postgresql://bot@127.0.0.1:PORT/bot`` (database ``bot`` exists, user ``bot`` is superuser)."""
    bindir = pg_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="pg-test-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    try:
        try:
            _start_cluster(bindir, root, data, log, port)
        except RuntimeError as error:
            if log.exists():
                raise RuntimeError(f"{error}\n--- server log ---\n{log.read_text(errors='replace')}") from error
            raise
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        if (data / "postmaster.pid").exists():   # started (even if a later step failed)
            subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                         "stop"]), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=START_TIMEOUT)
        shutil.rmtree(root, ignore_errors=True)


def _start_cluster(bindir: Path, root: Path, data: Path, log: Path, port: int) -> None:
    """initdb, configure (loopback only, no fsync), start, and create the database."""
    _run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "--encoding=UTF8",
          "--locale=C", "--no-sync"], cwd=root)
    # Loopback only: TCP on 127.0.0.1, the Unix socket in our own folder, and pg_hba trusts nothing else.
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{root}'\n"
                   "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                   "max_connections = 50\nshared_buffers = 32MB\n")
    if os.geteuid() == 0:
        for path in (data / "pg_hba.conf", data / "postgresql.conf"):
            shutil.chown(path, "postgres", "postgres")
    _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(START_TIMEOUT)), "start"],
         cwd=root)
    _run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, PG_DATABASE], cwd=root)


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` (e.g. one per test, for isolation) and
    return its URL."""
    import sqlalchemy as sa

    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain database name: {name!r}")
    server = sa.engine.make_url(url)
    engine = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return str(server.set(database=name))


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """``redis-server`` on a free loopback port, no persistence; yields ``redis://127.0.0.1:PORT/0``."""
    import redis

    if not os.access(REDIS_SERVER, os.X_OK):
        raise ServerMissing(f"Redis is not installed (no {REDIS_SERVER}): run scripts/install.sh as root, "
                            "or apt-get install redis-server")
    root = Path(tempfile.mkdtemp(prefix="redis-test-"))
    port = free_port()
    with open(root / "server.log", "wb") as log:   # the child keeps its own copy of the descriptor
        process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--daemonize", "no", "--dir", str(root)],
                                   cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                output = (root / "server.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited ({process.returncode}):\n{output}")
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING on port {port}")
            time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)

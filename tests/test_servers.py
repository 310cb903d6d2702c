"""The test servers of ``tests/servers.py`` are real: PostgreSQL stores and returns rows through
SQLAlchemy and listens on loopback only; Redis stores and returns keys through redis-py."""

from __future__ import annotations

import socket

import pytest
import redis
import sqlalchemy as sa

from tests.servers import create_database


def _other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))   # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_postgres_stores_and_returns_rows(postgres_url):
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.dialect.name == "postgresql"
            conn.execute(sa.text("CREATE TABLE greetings (id SERIAL PRIMARY KEY, text TEXT NOT NULL, at FLOAT)"))
            conn.execute(sa.text("INSERT INTO greetings (text, at) VALUES (:text, :at)"),
                         [{"text": "xin chào", "at": 1.5}, {"text": "cảm ơn", "at": 2.5}])
        with engine.begin() as conn:
            rows = conn.execute(sa.text("SELECT text, at FROM greetings WHERE at > :after ORDER BY id"),
                                {"after": 1.0}).all()
            assert [tuple(r) for r in rows] == [("xin chào", 1.5), ("cảm ơn", 2.5)]
            conn.execute(sa.text("DROP TABLE greetings"))
    finally:
        engine.dispose()


def test_postgres_listens_on_loopback_only(postgres_url):
    url = sa.engine.make_url(postgres_url)
    assert url.host == "127.0.0.1"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
            assert conn.execute(sa.text("SELECT host(inet_server_addr())")).scalar() == "127.0.0.1"
            rules = conn.execute(sa.text("SELECT type, address, netmask FROM pg_hba_file_rules")).all()
            assert {tuple(r) for r in rules} == {("local", None, None), ("host", "127.0.0.1", "255.255.255.255")}
    finally:
        engine.dispose()
    other = _other_address()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(OSError), socket.create_connection((other, url.port), timeout=2):
        pass


def test_an_extra_database_is_separate(postgres_url):
    extra = create_database(postgres_url, "test_servers_extra")
    engine = sa.create_engine(extra)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == "test_servers_extra"
            conn.execute(sa.text("CREATE TABLE only_here (id INT)"))
    finally:
        engine.dispose()
    main = sa.create_engine(postgres_url)
    try:
        assert "only_here" not in sa.inspect(main).get_table_names()
    finally:
        main.dispose()


def test_redis_sets_and_gets(redis_url):
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.set("greeting", "xin chào") is True
        assert client.get("greeting").decode() == "xin chào"
        assert client.delete("greeting") == 1 and client.get("greeting") is None
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save")["save"] == ""
    finally:
        client.close()

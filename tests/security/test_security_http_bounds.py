"""Unbounded input on the bot app's HTTP surface, attacked the way it was found.

- a 20 MB body was read whole and accepted; a chunked upload has no Content-Length to check;
- a 10,000-level nested JSON body raised RecursionError (a 500);
- any type or length of ``title`` / ``payload`` / ``text`` was accepted and stored;
- JSON routes accepted ``text/plain`` (what a cross-site form can post);
- the unhandled-error answer claimed "Tin nhắn của bạn đã được lưu".
"""

from __future__ import annotations

import logging
import socket
import sqlite3
from dataclasses import replace

import pytest
from starlette.responses import JSONResponse
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from bot import app as app_module
from bot import settings
from bot.app import BodyLimitMiddleware, create_app
from tests.conftest import free_port
from tests.loopback import LoopbackServer
from tests.webchat import ANSWERING_RASA as fake_rasa
from tests.webchat import owner_headers

STAFF_TOKEN = "staff-token-for-tests"
AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


@pytest.fixture
def config(tmp_path):
    return replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=1.0,
                   staff_token=STAFF_TOKEN, secret_override="test-secret")


@pytest.fixture
def client(config):
    with LoopbackServer(fake_rasa, config.rasa_port), TestClient(create_app(config)) as test_client:
        test_client.headers.update(owner_headers(config))   # the bodies below name TEST_CONVERSATION
        yield test_client


def stored_rows(config) -> int:
    with sqlite3.connect(config.app_db) as db:
        return db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def assert_vietnamese_error(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert any(ch in error for ch in "ạảãáàâăđêôơư"), error   # Vietnamese, with diacritics


# --- body size --------------------------------------------------------------------------------

def test_20_mb_body_with_content_length_is_413_and_nothing_stored(config, client):
    body = b'{"conversation_id": "web-0123456789abcdef", "text": "' + b"a" * (20 * 1024 * 1024) + b'"}'
    response = client.post("/api/messages", content=body, headers={"Content-Type": "application/json"})
    assert_vietnamese_error(response, 413)
    assert "quá lớn" in response.json()["error"]
    assert stored_rows(config) == 0


def test_chunked_upload_is_413_and_nothing_stored(config, client):
    def chunks():                              # no Content-Length (TestClient hands it over as one chunk)
        for _ in range(1280):
            yield b"a" * 16384

    response = client.post("/api/messages", content=chunks(), headers={"Content-Type": "application/json"})
    assert_vietnamese_error(response, 413)
    assert stored_rows(config) == 0


def test_chunked_upload_is_read_only_up_to_the_limit():
    """At the ASGI level: the middleware stops pulling chunks once past the limit."""
    import asyncio

    pulled, sent = [], []

    async def receive():                       # 20 MB in 16 KB chunks
        pulled.append(1)
        return {"type": "http.request", "body": b"a" * 16384, "more_body": len(pulled) < 1280}

    async def send(message):
        sent.append(message)

    async def reads_everything(request):
        return JSONResponse({"bytes": len(await request.body())})

    inner = Router(routes=[Route("/api/messages", reads_everything, methods=["POST"])])
    scope = {"type": "http", "method": "POST", "path": "/api/messages", "headers": [], "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("x", 80), "root_path": ""}
    asyncio.run(BodyLimitMiddleware(inner, max_bytes=65536)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert len(pulled) == 65536 // 16384 + 1


def test_chunked_upload_over_a_real_socket_gets_413_before_the_body_ends():
    """uvicorn + the middleware alone: the answer comes while the client is still sending."""

    async def echo(request):
        return JSONResponse({"bytes": len(await request.body())})

    limited = BodyLimitMiddleware(Router(routes=[Route("/", echo, methods=["POST"])]), max_bytes=65536)
    with LoopbackServer(limited, free_port()) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            sent = 0
            try:
                for _ in range(1280):              # up to 20 MB, never the final 0-length chunk
                    sock.sendall(b"4000\r\n" + b"a" * 16384 + b"\r\n")
                    sent += 16384
                    sock.settimeout(0.01)
                    try:
                        if sock.recv(1, socket.MSG_PEEK):
                            break
                    except (BlockingIOError, socket.timeout):
                        pass
                    finally:
                        sock.settimeout(10)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 1024 * 1024


def test_small_chunked_body_still_works(config, client):
    body = '{"conversation_id": "web-0123456789abcdef", "text": "lệ phí hộ chiếu"}'.encode()
    response = client.post("/api/messages", content=iter([body[:10], body[10:]]),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def test_garbage_content_length_is_400_without_reading(config):
    """Straight at the ASGI app: uvicorn itself refuses most of these, the app must not trust them either."""
    import asyncio

    async def never_read():
        raise AssertionError("the body must not be read")

    async def inner(scope, receive, send):
        raise AssertionError("the app must not be called")

    for value in (b"abc", b"-1", b"1e9", b"99999999999999999999"):
        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/messages",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", value)]}
        asyncio.run(BodyLimitMiddleware(inner, max_bytes=65536)(scope, never_read, send))
        assert sent[0]["status"] in (400, 413), value


def test_staff_route_body_is_limited_too(config, client):
    response = client.post("/api/staff/dossiers/HS-2026-000001/state", headers={**AUTH, "Content-Type": "application/json"},
                           content=b'{"state": "da_nop", "actor": "' + b"x" * 200_000 + b'"}')
    assert_vietnamese_error(response, 413)


# --- nesting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [33, 1000, 10_000])
def test_deeply_nested_json_is_400(config, client, depth):
    body = "[" * depth + "]" * depth
    response = client.post("/api/messages", content=body, headers={"Content-Type": "application/json"})
    assert_vietnamese_error(response, 400)
    nested = '{"conversation_id": "web-0123456789abcdef", "text": "x", "extra": ' + "{\"a\":" * depth + "1" + "}" * depth + "}"
    response = client.post("/api/messages", content=nested, headers={"Content-Type": "application/json"})
    assert_vietnamese_error(response, 400)
    assert stored_rows(config) == 0


def test_deeply_nested_json_on_the_staff_route_is_400(client):
    body = '{"state": ' + "[" * 10_000 + "]" * 10_000 + ', "actor": "canbo:1"}'
    response = client.post("/api/staff/dossiers/HS-2026-000001/state", content=body,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert_vietnamese_error(response, 400)


# --- field types and lengths --------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"conversation_id": 12, "text": "x"},
    {"conversation_id": ["web-0123456789abcdef"], "text": "x"},
    {"conversation_id": "web-0123456789abcdef", "text": 5},
    {"conversation_id": "web-0123456789abcdef", "text": ["hộ chiếu"]},
    {"conversation_id": "web-0123456789abcdef", "text": {"a": 1}},
    {"conversation_id": "web-0123456789abcdef", "text": True},
    {"conversation_id": "web-0123456789abcdef", "payload": 7},
    {"conversation_id": "web-0123456789abcdef", "payload": "/greet" + "x" * 500},
    {"conversation_id": "web-0123456789abcdef", "payload": "/greet", "title": "x" * 201},
    {"conversation_id": "web-0123456789abcdef", "payload": "/greet", "title": {"x": 1}},
    {"conversation_id": "web-0123456789abcdef", "payload": "/greet", "title": 3.5},
])
def test_wrong_type_or_length_is_400_and_nothing_stored(config, client, body):
    response = client.post("/api/messages", json=body)
    assert_vietnamese_error(response, 400)
    assert "không hợp lệ" in response.json()["error"]
    assert stored_rows(config) == 0


def test_lone_surrogate_is_400_not_500(config, client):
    response = client.post("/api/messages", content=b'{"conversation_id": "web-0123456789abcdef", "text": "\\ud800 h\\u1ed9"}',
                           headers={"Content-Type": "application/json"})
    assert_vietnamese_error(response, 400)
    assert stored_rows(config) == 0


@pytest.mark.parametrize("content", [b"\xff\xfe{", b"{\"conversation_id\": \"web-0123456789abcdef\", \"text\": \"\xc3\"}", b"",
                                     b"NaN", b"null", b"\"web-0123456789abcdef\""])
def test_not_json_object_is_400(config, client, content):
    response = client.post("/api/messages", content=content, headers={"Content-Type": "application/json"})
    assert_vietnamese_error(response, 400)
    assert stored_rows(config) == 0


def test_limits_at_the_boundary_are_accepted(config, client):
    response = client.post("/api/messages", json={"conversation_id": "web-0123456789abcdef", "payload": "Nữ" + "a" * 498,
                                                  "title": "b" * 200})
    assert response.status_code == 200, response.text
    response = client.post("/api/messages", json={"conversation_id": "web-0123456789abcdef", "text": None})
    assert response.status_code == 200


# --- content type -------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [None, "text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/json-patch+json", "application/json; charset=latin-1"])
def test_json_routes_refuse_other_content_types(config, client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/messages", content=b'{"conversation_id": "web-0123456789abcdef", "text": "hi"}', headers=headers)
    assert_vietnamese_error(response, 415)
    response = client.post("/api/staff/dossiers/HS-2026-000001/state", content=b'{"state": "da_nop", "actor": "a"}',
                           headers={**AUTH, **headers})
    assert_vietnamese_error(response, 415)
    assert stored_rows(config) == 0


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=\"UTF-8\""])
def test_json_content_types_are_accepted(client, content_type):
    response = client.post("/api/messages", content=b'{"conversation_id": "web-0123456789abcdef", "text": "hi"}',
                           headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


# --- unhandled errors ---------------------------------------------------------------------------

def test_an_exception_in_a_handler_is_a_polite_answer_that_claims_nothing(config, client, monkeypatch, caplog):
    async def explode(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded: hộ chiếu 001190012345")

    monkeypatch.setattr(client.app.state.router, "handle", explode)
    with caplog.at_level(logging.DEBUG):
        response = client.post("/api/messages", json={"conversation_id": "web-0123456789abcdef", "text": "số 001190012345"})
    assert response.status_code == 500
    assert response.json() == {"error": app_module.SERVER_ERROR}
    assert "đã được lưu" not in response.text and "Traceback" not in response.text
    assert "chưa xử lý được" in response.json()["error"]
    logged = "\n".join(record.getMessage() + str(record.exc_info or "") for record in caplog.records)
    assert "RecursionError" in logged and "/api/messages" in logged
    assert "001190012345" not in logged and "hộ chiếu" not in logged


def test_an_exception_on_the_pdf_route_does_not_log_the_token(config, client, monkeypatch, caplog):
    monkeypatch.setattr(app_module, "check_pdf_token", lambda *a: (_ for _ in ()).throw(KeyError("HS-2026-000001")))
    with caplog.at_level(logging.DEBUG):
        response = client.get("/dossiers/pdf/HS-2026-000001.secret-signature")
    assert response.status_code == 500
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot"))
    assert "KeyError" in logged and "/dossiers/pdf/{token}" in logged
    assert "secret-signature" not in logged


def test_staff_failed_messages_route(config, client):
    assert client.get("/api/staff/messages/failed").status_code == 401
    assert client.get("/api/staff/messages/failed", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/api/staff/messages/failed", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"messages": []}
    store = client.app.state.store
    if not hasattr(store, "record_failure"):
        pytest.skip("MessageStore.record_failure not there yet")
    message_id = store.add("web-9", "in", "hộ chiếu 0912***678", status="pending", pending_text="hộ chiếu 0912345678")
    for _ in range(config.max_attempts):
        store.record_failure(message_id, "RasaError", config.max_attempts)
    messages = client.get("/api/staff/messages/failed", headers=AUTH).json()["messages"]
    assert [(m["id"], m["conversation_id"], m["text"]) for m in messages] == [(message_id, "web-9", "hộ chiếu 0912***678")]
    assert "0912345678" not in str(messages)


def test_staff_failed_messages_route_is_off_without_a_token(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), staff_token=None,
                     secret_override="test-secret")
    with TestClient(create_app(config)) as client:
        assert_vietnamese_error(client.get("/api/staff/messages/failed"), 503)

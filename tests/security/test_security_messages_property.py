"""Property-based attack on POST /api/messages: arbitrary JSON values, bodies, bytes and content types.

Whatever arrives: never a 5xx, and nothing half-stored — either the citizen's message is stored
together with its replies (as many as the answer lists), or nothing at all is stored.
"""

from __future__ import annotations

import json
import sqlite3
import string
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from bot import settings
from bot.app import create_app
from tests.conftest import free_port
from tests.loopback import LoopbackServer
from tests.webchat import owner_headers


async def fake_webhook(request):
    body = await request.json()
    message = body["message"]
    if "boom" in message:
        return Response("internal error", status_code=500)
    if "garbage" in message:
        return Response("{not json", media_type="application/json")
    if "silence" in message:
        return JSONResponse([])
    return JSONResponse([{"recipient_id": body["sender"], "text": f"Bạn hỏi: {message[:50]}",
                          "buttons": [{"title": "Lệ phí", "payload": "/ask_fee"}]},
                         {"recipient_id": body["sender"], "text": "Bạn cần gì thêm không?"}])


fake_rasa = Starlette(routes=[Route("/webhooks/rest/webhook", fake_webhook, methods=["POST"]),
                              Route("/", lambda r: JSONResponse({}))])

SETTINGS = hypothesis_settings(max_examples=200, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15,
)
interesting_text = st.sampled_from([
    "", " ", "lệ phí làm hộ chiếu", "lam ho chieu can giay to gi", "số 001190012345, đt 0912 345 678", "😀🙏",
    "/greet", "/ask_fee", '/ask_fee{"procedure":"ho-chieu"}', "/restart", "Nữ", "boom", "garbage", "silence",
    "<script>alert(1)</script>", "\x00", "\ud800", "a" * 2001, "x" * 500, "y" * 501, "t" * 200, "t" * 201,
])
field_values = st.one_of(interesting_text, st.text(max_size=600), json_values)
conversation_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_.:@-]{1,12}", fullmatch=True), st.sampled_from(["web-0123456789abcdef", "web-2"]),
                             st.text(max_size=140), json_values)
message_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"conversation_id": conversation_ids, "text": field_values,
                                        "payload": field_values, "title": field_values,
                                        "extra": json_values, "channel": field_values}),
    st.fixed_dictionaries({"conversation_id": st.sampled_from(["web-0123456789abcdef", "web-2"]), "text": field_values}),
    json_values,
)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "",
                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;;",
                     "application/json; charset=utf-16", "APPLICATION/JSON", "application/jsonx"]),
    st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=40),
)


@pytest.fixture
def client(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, rasa_port=free_port(), rasa_timeout=1.0,
                     secret_override="test-secret", rate_limit_per_minute=0, conversation_rate_per_minute=0)
    with LoopbackServer(fake_rasa, config.rasa_port), TestClient(create_app(config)) as test_client:
        test_client.headers.update(owner_headers(config))   # owner of TEST_CONVERSATION ("web-0123…")
        test_client.db = sqlite3.connect(config.app_db)
        yield test_client
        test_client.db.close()


def last_id(client) -> int:
    return client.db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]


def check(client, send) -> None:
    before = last_id(client)
    response = send()
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    rows = client.db.execute("SELECT conversation_id, direction, text, status FROM messages WHERE id > ? ORDER BY id",
                             (before,)).fetchall()
    if response.status_code != 200:
        assert isinstance(answer["error"], str) and answer["error"]
        assert rows == [], "a refused request stored something"
        return
    assert rows, "a 200 answer but nothing stored"
    incoming, replies = rows[0], rows[1:]
    assert incoming[1] == "in" and incoming[2] == answer["message"]["text"]
    assert len(replies) == len(answer["replies"]) >= 1, "the citizen's message was stored without its reply"
    assert all(row[1] == "out" and row[0] == incoming[0] for row in replies)


def test_arbitrary_json_bodies(client):
    @SETTINGS
    @given(body=message_bodies, ascii_only=st.booleans())
    def attack(body, ascii_only):
        content = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        check(client, lambda: client.post("/api/messages", content=content,
                                          headers={"Content-Type": "application/json"}))

    attack()


def test_arbitrary_bytes_and_content_types(client):
    @SETTINGS
    @given(content=st.one_of(st.binary(max_size=300),
                             st.builds(lambda v: json.dumps(v).encode(), message_bodies)),
           content_type=content_types)
    def attack(content, content_type):
        headers = {"Content-Type": content_type} if content_type else {}
        check(client, lambda: client.post("/api/messages", content=content, headers=headers))

    attack()


def test_bodies_around_the_size_limit(client):
    limit = client.app.state.config.max_body_bytes

    @hypothesis_settings(max_examples=30, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(size=st.integers(min_value=limit - 100, max_value=limit + 100), chunked=st.booleans())
    def attack(size, chunked):
        prefix, suffix = b'{"conversation_id": "web-0123456789abcdef", "text": "', b'"}'
        content = prefix + b"a" * max(0, size - len(prefix) - len(suffix)) + suffix
        sent = iter([content[:1000], content[1000:]]) if chunked else content
        response = client.post("/api/messages", content=sent, headers={"Content-Type": "application/json"})
        assert response.status_code == (413 if len(content) > limit else 200), (len(content), response.text)
        if response.status_code == 413:
            assert "quá lớn" in response.json()["error"]

    attack()

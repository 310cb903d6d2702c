"""The Zalo OA channel against a loopback fake of Zalo's OpenAPI and OAuth endpoints."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import stat
import unicodedata

import httpx
import pytest

from bot import settings
from bot.processes import free_port
from channels import zalo as zalo_module
from channels.base import Inbound, Outbound, OutsideWindow, RetryLater, SendFailed, WebhookRejected, payload_key
from channels.zalo import BUTTON_HINT, ZaloAPIError, ZaloChannel, ZaloOAClient, ZaloTokenStore
from tests.channels.fake_zalo import (APP_ID, APP_SECRET, FIRST_ACCESS, FIRST_REFRESH, OA_SECRET_KEY, FakeZalo,
                                      event, payload, payload_bytes, signature, signed_webhook)
from tests.loopback import LoopbackServer

USER = "246845883529197922"
YES_NO = [{"title": "Có", "payload": "/affirm"}, {"title": "Không", "payload": "/deny"}]


@pytest.fixture(scope="module")
def fake_server():
    fake = FakeZalo()
    with LoopbackServer(fake.app, port=free_port()) as server:  # pass the port: LoopbackServer(port=None) is buggy
        yield fake, f"http://127.0.0.1:{server.port}"


@pytest.fixture
def fake(fake_server):
    fake, url = fake_server
    fake.reset()
    fake.url = url
    yield fake
    fake.reset()


@pytest.fixture
def token_path(tmp_path):
    return tmp_path / "data" / "zalo_tokens.json"


@pytest.fixture
def store(token_path):
    return ZaloTokenStore(token_path, FIRST_ACCESS, FIRST_REFRESH)


def make_client(fake, store, **kwargs):
    return ZaloOAClient(APP_ID, APP_SECRET, store, api_url=fake.url, oauth_url=fake.url, **kwargs)


@pytest.fixture
async def client(fake, store):
    client = make_client(fake, store)
    yield client
    await client.aclose()


@pytest.fixture
async def channel(client):
    channel = ZaloChannel(client, APP_ID, OA_SECRET_KEY)
    yield channel
    await channel.stop()


def stored(path):
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ sending


async def test_send_text_has_the_documented_shape(fake, client):
    result = await client.send_text(USER, "Xin chào, mình có thể giúp gì?")
    [request] = fake.requests
    assert request["path"] == "/v3.0/oa/message/cs" and request["method"] == "POST"
    assert request["headers"]["access_token"] == FIRST_ACCESS
    assert request["json"] == {"recipient": {"user_id": USER}, "message": {"text": "Xin chào, mình có thể giúp gì?"}}
    assert result[0]["message_id"] and result[0]["user_id"] == USER


async def test_send_buttons_matches_the_sample_request(fake, client):
    sample = payload("send_request")
    attached = sample["message"]["attachment"]["payload"]["buttons"]
    buttons = [{"title": b["title"], "payload": b["payload"]} for b in attached]
    await client.send_buttons(USER, "Bạn muốn làm thủ tục nào?", buttons)
    [body] = fake.delivered
    assert body == sample
    assert body["message"]["text"].splitlines() == ["Bạn muốn làm thủ tục nào?", "1. Đăng ký khai sinh",
                                                    "2. Đăng ký kết hôn", BUTTON_HINT]
    assert BUTTON_HINT == "Bạn có thể bấm nút hoặc trả lời bằng số."


async def test_at_most_five_buttons_but_every_choice_numbered(fake, client):
    buttons = [{"title": f"Lựa chọn {n}", "payload": f"/chon{{\"n\":{n}}}"} for n in range(1, 8)]
    await client.send_buttons(USER, "Chọn một:", buttons)
    [body] = fake.delivered
    attached = body["message"]["attachment"]["payload"]["buttons"]
    assert [b["title"] for b in attached] == [f"Lựa chọn {n}" for n in range(1, 6)]
    assert all(b["type"] == "oa.query.hide" for b in attached)
    assert "7. Lựa chọn 7" in body["message"]["text"]


async def test_long_titles_are_cut_and_long_payloads_keyed(fake, client):
    long_payload = "/chon" + json.dumps({"x": "a" * 1200})
    await client.send_buttons(USER, "Chọn:", [{"title": "Rất dài " * 30, "payload": long_payload}])
    [button] = fake.delivered[0]["message"]["attachment"]["payload"]["buttons"]
    assert len(button["title"]) <= 100 and button["title"].endswith("…")
    assert button["payload"] == payload_key(long_payload)


async def test_long_text_is_split_at_line_breaks(fake, client):
    lines = [f"Bước {n}: chuẩn bị giấy tờ theo hướng dẫn của cơ quan có thẩm quyền." for n in range(1, 80)]
    text = "\n".join(lines)
    assert len(text) > 4000
    results = await client.send_text(USER, text)
    texts = [body["message"]["text"] for body in fake.delivered]
    assert len(results) == len(texts) >= 3
    assert all(len(piece) <= 2000 for piece in texts)
    assert [line for piece in texts for line in piece.split("\n")] == lines  # cut only between lines


async def test_long_text_with_buttons_puts_buttons_on_the_last_piece(fake, client):
    text = "\n".join(f"Dòng {n} của một câu trả lời khá dài về thủ tục hành chính." for n in range(100))
    await client.send_buttons(USER, text, YES_NO)
    bodies = fake.delivered
    assert len(bodies) >= 2
    assert all("attachment" not in b["message"] for b in bodies[:-1])
    assert bodies[-1]["message"]["attachment"]["payload"]["buttons"][1]["payload"] == "/deny"
    assert bodies[-1]["message"]["text"].endswith("1. Có\n2. Không\n" + BUTTON_HINT)


async def test_length_counts_after_nfc(fake, client):
    composed = "Đăng ký hộ tịch " * 120                  # 1,920 characters once composed
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) > 2000 >= len(composed.strip())
    await client.send_text(USER, decomposed)
    [body] = fake.delivered
    assert body["message"]["text"] == composed.strip()


@pytest.mark.parametrize("code", [-213, -244, -211, -201, -999])
async def test_error_with_http_200_is_a_failure(fake, client, code):
    fake.fail_next(code)
    with pytest.raises(SendFailed) as raised:
        await client.send_text(USER, "Xin chào")
    assert isinstance(raised.value, ZaloAPIError) and raised.value.code == code
    assert not isinstance(raised.value, (RetryLater, OutsideWindow))
    assert len(fake.sends) == 1 and not fake.refreshes


async def test_230_is_outside_the_window(fake, client):
    fake.fail_next(-230)
    with pytest.raises(OutsideWindow):
        await client.send_text(USER, "Hồ sơ của bạn đã được tiếp nhận.")
    assert len(fake.sends) == 1


@pytest.mark.parametrize("header, wait", [(None, 60.0), ("30", 30.0)])
async def test_rate_limit_is_retry_later(fake, client, header, wait):
    fake.fail_next(-32, retry_after=header)
    with pytest.raises(RetryLater) as raised:
        await client.send_text(USER, "Xin chào")
    assert raised.value.retry_after == wait


@pytest.mark.parametrize("failure", ["http500", "http503", "nonjson"])
async def test_server_errors_are_retry_later(fake, client, failure):
    fake.fail_next(failure)
    with pytest.raises(RetryLater):
        await client.send_text(USER, "Xin chào")
    await client.send_text(USER, "Xin chào")  # and the next attempt works
    assert len(fake.delivered) == 1


async def test_network_error_is_retry_later(store):
    client = ZaloOAClient(APP_ID, APP_SECRET, store, api_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        with pytest.raises(RetryLater):
            await client.send_text(USER, "Xin chào")
    finally:
        await client.aclose()


async def test_an_answer_without_error_code_is_retry_later(store):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"message": "?"}))
    client = ZaloOAClient(APP_ID, APP_SECRET, store, transport=transport)
    try:
        with pytest.raises(RetryLater):
            await client.send_text(USER, "Xin chào")
    finally:
        await client.aclose()


# ------------------------------------------------------------------------------------------ tokens


@pytest.mark.parametrize("code", [-216, -220])
async def test_token_error_refreshes_once_and_retries_once(fake, client, token_path, code):
    if code == -216:
        fake.revoke_access()
    else:
        fake.fail_next(-220)
    await client.send_text(USER, "Xin chào")
    [refresh] = fake.refreshes
    assert refresh["form"] == {"refresh_token": FIRST_REFRESH, "app_id": APP_ID, "grant_type": "refresh_token"}
    assert refresh["headers"]["secret_key"] == APP_SECRET
    assert refresh["content_type"].startswith("application/x-www-form-urlencoded")
    assert [s["headers"]["access_token"] for s in fake.sends] == [FIRST_ACCESS, "access-1"]
    assert len(fake.delivered) == 1
    assert stored(token_path)["refresh_token"] == "refresh-1"


async def test_token_refused_again_after_the_refresh_is_retry_later(fake, client):
    fake.fail_next(-216, times=2)
    with pytest.raises(RetryLater):
        await client.send_text(USER, "Xin chào")
    assert len(fake.refreshes) == 1 and len(fake.sends) == 2


async def test_failed_refresh_is_retry_later_and_logs_no_secret(fake, client, token_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake.revoke_access()
    fake.fail_refresh()
    with pytest.raises(RetryLater) as raised:
        await client.send_text(USER, "Số căn cước của tôi là 001203004567")
    assert "-14014" in str(raised.value)
    assert not token_path.exists()              # nothing new to store
    logged = caplog.text + str(raised.value)
    for secret in (FIRST_ACCESS, FIRST_REFRESH, APP_SECRET, USER, "001203004567"):
        assert secret not in logged


async def test_refresh_stores_the_new_pair_atomically_before_using_it(fake, client, token_path, monkeypatch):
    seen_on_disk = []
    fake.on_send = lambda record: seen_on_disk.append(
        (record["headers"].get("access_token"), stored(token_path) if token_path.exists() else None))
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        replaced.append((os.fspath(src), os.fspath(dst), stat.S_IMODE(os.stat(src).st_mode)))
        return real_replace(src, dst)

    monkeypatch.setattr(zalo_module.os, "replace", spy_replace)
    fake.revoke_access()
    await client.send_text(USER, "Xin chào")
    assert seen_on_disk[0] == (FIRST_ACCESS, None)
    token, on_disk = seen_on_disk[1]
    assert token == "access-1"                                   # used only once it was on disk
    assert on_disk["access_token"] == "access-1" and on_disk["refresh_token"] == "refresh-1"
    assert on_disk["expires_at"] == pytest.approx(on_disk["updated_at"] + 90000)
    [(src, dst, mode)] = replaced
    assert os.path.dirname(src) == os.path.dirname(dst) and dst == str(token_path) and mode == 0o600
    assert not os.path.exists(src)
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in token_path.parent.iterdir()) == ["zalo_tokens.json", "zalo_tokens.json.lock"]


async def test_a_crash_right_after_a_refresh_uses_the_stored_pair(fake, client, token_path):
    await client.refresh()                                       # ... and the process dies here
    assert fake.valid_refresh == {"refresh-1"}                   # the environment's refresh-0 is spent
    restarted = ZaloTokenStore(token_path, FIRST_ACCESS, FIRST_REFRESH)   # same environment
    assert (restarted.access_token, restarted.refresh_token) == ("access-1", "refresh-1")
    again = make_client(fake, restarted)
    try:
        await again.send_text(USER, "Xin chào")
        fake.revoke_access()                                     # and it can refresh with the stored token
        await again.send_text(USER, "Xin chào lần nữa")
    finally:
        await again.aclose()
    assert [r["form"]["refresh_token"] for r in fake.refreshes] == [FIRST_REFRESH, "refresh-1"]
    assert len(fake.delivered) == 2


async def test_a_newly_configured_first_pair_replaces_the_stored_one(fake, client, token_path):
    await client.refresh()
    reauthorised = ZaloTokenStore(token_path, "access-new", "refresh-new")
    assert (reauthorised.access_token, reauthorised.refresh_token) == ("access-new", "refresh-new")
    assert stored(token_path)["access_token"] == "access-new"
    assert ZaloTokenStore(token_path, "access-new", "refresh-new").access_token == "access-new"


async def test_concurrent_sends_refresh_once(fake, client):
    fake.revoke_access()
    fake.refresh_delay = 0.2
    results = await asyncio.gather(*(client.send_text(USER, f"Tin {n}") for n in range(10)))
    assert len(results) == 10
    assert len(fake.refreshes) == 1 and client.refreshes == 1
    assert len(fake.delivered) == 10
    assert {b["message"]["text"] for b in fake.delivered} == {f"Tin {n}" for n in range(10)}


async def test_refresh_when_expires_in_has_passed(fake, token_path):
    now = [1_000_000.0]
    store = ZaloTokenStore(token_path, FIRST_ACCESS, FIRST_REFRESH, now=lambda: now[0])
    client = make_client(fake, store)
    try:
        await client.refresh()
        assert store.expires_at == 1_000_000.0 + 90000
        now[0] += 80000                                          # not yet expired: no refresh
        await client.send_text(USER, "Một")
        assert len(fake.refreshes) == 1
        now[0] += 10000                                          # expired: refresh before sending
        await asyncio.gather(*(client.send_text(USER, f"Tin {n}") for n in range(10)))
    finally:
        await client.aclose()
    assert len(fake.refreshes) == 2
    assert all(s["answer"]["error"] == 0 for s in fake.sends)    # never sent with the expired token
    assert [s["headers"]["access_token"] for s in fake.sends] == ["access-1"] + ["access-2"] * 10


async def test_a_refresh_by_another_process_is_picked_up(fake, client, token_path):
    other = make_client(fake, ZaloTokenStore(token_path, FIRST_ACCESS, FIRST_REFRESH))
    try:
        await other.refresh()                                    # access-0 is now revoked at Zalo
    finally:
        await other.aclose()
    await client.send_text(USER, "Xin chào")                     # -216, reads the file: no second refresh
    assert len(fake.refreshes) == 1
    assert [s["headers"]["access_token"] for s in fake.sends] == [FIRST_ACCESS, "access-1"]


# ------------------------------------------------------------------------------------------ channel


async def test_channel_send_text_buttons_and_document(fake, channel):
    await channel.send(USER, Outbound(text="Hồ sơ đã lưu.", document_url="https://bot.example.vn/d/HS-1.pdf?sig=x",
                                      document_name="HS-1.pdf"))
    await channel.send(USER, Outbound(text="Bạn có muốn nộp không?",
                                      buttons=YES_NO))
    await channel.send(USER, Outbound(text="", document_url="https://bot.example.vn/d/HS-2.pdf"))
    await channel.send(USER, Outbound(text="  "))                 # nothing to send
    first, second, third = fake.delivered
    assert first["message"] == {"text": "Hồ sơ đã lưu.\n\nTờ khai PDF: https://bot.example.vn/d/HS-1.pdf?sig=x"}
    assert second["message"]["attachment"]["payload"]["buttons"] == [
        {"title": "Có", "type": "oa.query.hide", "payload": "/affirm"},
        {"title": "Không", "type": "oa.query.hide", "payload": "/deny"}]
    assert third["message"] == {"text": "Tờ khai PDF: https://bot.example.vn/d/HS-2.pdf"}


async def test_channel_errors_pass_through(fake, channel):
    fake.fail_next(-230)
    with pytest.raises(OutsideWindow):
        await channel.send(USER, Outbound(text="Hồ sơ của bạn đã có kết quả."))


def config(tmp_path, **zalo):
    values = dict(zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET, zalo_oa_secret_key=OA_SECRET_KEY,
                  zalo_access_token=FIRST_ACCESS, zalo_refresh_token=FIRST_REFRESH, zalo_window_hours=48,
                  data_dir=tmp_path / "var")
    values.update(zalo)
    return dataclasses.replace(settings.load(), **values)


@pytest.mark.parametrize("missing", ["zalo_app_id", "zalo_app_secret", "zalo_oa_secret_key", "zalo_access_token",
                                     "zalo_refresh_token"])
def test_channel_is_off_without_its_settings(tmp_path, missing):
    assert ZaloChannel.from_settings(config(tmp_path, **{missing: None})) is None


async def test_channel_from_settings(fake, tmp_path):
    channel = ZaloChannel.from_settings(config(tmp_path, zalo_api_url=fake.url, zalo_oauth_url=fake.url,
                                               zalo_window_hours=24))
    try:
        assert channel.name == "zalo" and channel.webhook_path == "/channels/zalo/webhook"
        assert channel.window == dt.timedelta(hours=24)
        assert channel.client.tokens.path == tmp_path / "var" / "zalo_tokens.json"
        assert APP_SECRET not in repr(channel) + repr(channel.client) + repr(channel.client.tokens)
        await channel.send(USER, Outbound(text="Xin chào"))
    finally:
        await channel.stop()
    assert len(fake.delivered) == 1


async def test_channel_from_settings_with_a_transport(tmp_path):
    seen = []

    def answer(request):
        seen.append(request)
        return httpx.Response(200, json=payload("send_success"))

    channel = ZaloChannel.from_settings(config(tmp_path), transport=httpx.MockTransport(answer))
    try:
        await channel.send(USER, Outbound(text="Xin chào"))
    finally:
        await channel.stop()
    assert str(seen[0].url) == "https://openapi.zalo.me/v3.0/oa/message/cs"


# ------------------------------------------------------------------------------------------ webhooks


async def test_signature_sample_matches_the_documented_formula(channel):
    body = payload_bytes("user_send_text")
    data = json.loads(body)
    import hashlib

    expected = "mac=" + hashlib.sha256(
        (data["app_id"]).encode() + body + data["timestamp"].encode() + OA_SECRET_KEY.encode()).hexdigest()
    assert signature(body) == expected
    assert zalo_module.sign_body(APP_ID, body, data["timestamp"], OA_SECRET_KEY) == expected
    [message] = await channel.parse_webhook({"X-ZEvent-Signature": expected}, body)
    assert message.text == "Đăng ký khai sinh cần giấy tờ gì?"


async def test_header_name_is_case_insensitive(channel):
    body = payload_bytes("user_send_text")
    assert await channel.parse_webhook({"x-zevent-signature": signature(body)}, body)
    assert await channel.parse_webhook(httpx.Headers({"X-ZEVENT-SIGNATURE": signature(body)}), body)


@pytest.mark.parametrize("headers", [
    {},
    {"X-ZEvent-Signature": ""},
    {"X-ZEvent-Signature": "mac="},
    {"X-ZEvent-Signature": "not-a-mac"},
    {"X-ZEvent-Signature": "mac=" + "0" * 64},
    {"X-ZEvent-Signature": signature(payload_bytes("user_send_text"), oa_secret_key="another-key")},
    {"X-ZEvent-Signature": signature(payload_bytes("user_send_text"), oa_secret_key=APP_SECRET)},  # app secret ≠ OA key
    {"X-ZEvent-Signature": signature(payload_bytes("user_send_text"), timestamp="1767240000001")},
    {"X-ZEvent-Signature": "mac=ĐĐ"},
], ids=["missing", "empty", "empty-mac", "malformed", "zeros", "forged", "app-secret", "other-timestamp", "non-ascii"])
async def test_bad_signatures_are_rejected(channel, headers):
    with pytest.raises(WebhookRejected) as raised:
        await channel.parse_webhook(headers, payload_bytes("user_send_text"))
    assert raised.value.status == 401


async def test_an_event_for_another_app_is_rejected(channel):
    body, headers = signed_webhook(event("user_send_text", app_id="1111111111111111111"))
    with pytest.raises(WebhookRejected) as raised:
        await channel.parse_webhook(headers, body)
    assert raised.value.status == 401


async def test_signature_is_over_the_exact_raw_bytes(channel):
    body = payload_bytes("user_send_text")
    headers = {"X-ZEvent-Signature": signature(body)}
    assert await channel.parse_webhook(headers, body)
    reserialised = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(reserialised) == json.loads(body)
    with pytest.raises(WebhookRejected):
        await channel.parse_webhook(headers, reserialised)
    with pytest.raises(WebhookRejected):
        await channel.parse_webhook(headers, body + b"\n")


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"event_name": "user_send_text"}', b"\xff\xfe"])
async def test_malformed_bodies_are_rejected(channel, body):
    with pytest.raises(WebhookRejected) as raised:
        await channel.parse_webhook({"X-ZEvent-Signature": "mac=" + "a" * 64}, body)
    assert raised.value.status == 401


def at(ms: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.timezone.utc)


async def test_user_send_text_becomes_an_inbound(channel):
    body = payload_bytes("user_send_text")
    [message] = await channel.parse_webhook({"X-ZEvent-Signature": signature(body)}, body)
    assert message == Inbound(channel="zalo", user_id=USER, message_id="96d3cdf3af150460909",
                              text="Đăng ký khai sinh cần giấy tờ gì?", at=at("1767240000000"))
    assert message.conversation_id == f"zalo:{USER}"


@pytest.mark.parametrize("name, what", [("user_send_sticker", "nhãn dán"), ("user_send_image", "hình ảnh")])
async def test_media_gets_a_polite_notice(channel, name, what):
    body = payload_bytes(name)
    [message] = await channel.parse_webhook({"X-ZEvent-Signature": signature(body)}, body)
    sample = json.loads(body)
    assert (message.channel, message.user_id, message.message_id) == ("zalo", USER, sample["message"]["msg_id"])
    assert message.text is None and message.payload is None
    assert what in message.notice and "tin nhắn chữ" in message.notice and "ví dụ" in message.notice
    assert message.at == at(sample["timestamp"])


@pytest.mark.parametrize("kind", ["audio", "video", "file", "link", "location", "business_card", "gif", "new_kind"])
async def test_every_other_user_send_event_gets_the_notice(channel, kind):
    body, headers = signed_webhook(event("user_send_image", event_name=f"user_send_{kind}"))
    [message] = await channel.parse_webhook(headers, body)
    assert message.notice and "tin nhắn chữ" in message.notice and message.text is None


async def test_follow_greets_the_new_follower(channel):
    body = payload_bytes("follow")
    [message] = await channel.parse_webhook({"X-ZEvent-Signature": signature(body)}, body)
    assert (message.user_id, message.text) == (USER, "Xin chào")
    assert message.message_id == f"follow:{USER}:1767239940000"
    assert message.at == at("1767239940000")


@pytest.mark.parametrize("name", ["oa_send_text", "oa_send_image", "unfollow", "user_received_message",
                                  "user_seen_message", "user_submit_info", "something_new"])
async def test_echoes_receipts_and_unknown_events_give_nothing(channel, name):
    sample = "follow" if name == "unfollow" else "oa_send_text"
    body, headers = signed_webhook(event(sample, event_name=name))
    assert await channel.parse_webhook(headers, body) == []


async def test_oa_send_text_sample_gives_nothing(channel):
    body = payload_bytes("oa_send_text")
    assert await channel.parse_webhook({"X-ZEvent-Signature": signature(body)}, body) == []


async def test_a_button_click_arrives_as_text_and_is_flagged(channel):
    click = '/chon_thu_tuc{"procedure":"khai_sinh"}'
    body, headers = signed_webhook(event("user_send_text", message={"text": click}))
    [message] = await channel.parse_webhook(headers, body)
    assert message.text == click and message.payload == click
    key = payload_key("/x" + "a" * 2000)
    body, headers = signed_webhook(event("user_send_text", message={"text": key}))
    [message] = await channel.parse_webhook(headers, body)
    assert message.payload_key == key and message.payload is None
    body, headers = signed_webhook(event("user_send_text", message={"text": "2"}))
    [message] = await channel.parse_webhook(headers, body)
    assert (message.text, message.payload, message.payload_key) == ("2", None, None)


async def test_events_without_ids_or_text_give_nothing(channel):
    for changes in ({"message": {"text": "  "}}, {"sender": None}, {"sender": {"id": None}},
                    {"message": {"msg_id": None}}):
        body, headers = signed_webhook(event("user_send_text", **changes))
        assert await channel.parse_webhook(headers, body) == []


async def test_webhook_and_send_log_no_text_ids_or_tokens(fake, channel, caplog):
    caplog.set_level(logging.DEBUG)
    body = payload_bytes("user_send_text")
    await channel.parse_webhook({"X-ZEvent-Signature": signature(body)}, body)
    fake.revoke_access()
    await channel.send(USER, Outbound(text="Số CCCD 001203004567 đã được ghi nhận."))
    fake.fail_next(-213)
    with pytest.raises(SendFailed):
        await channel.send(USER, Outbound(text="Xin chào"))
    for secret in (USER, "001203004567", "Đăng ký khai sinh", FIRST_ACCESS, FIRST_REFRESH, "access-1", "refresh-1",
                   APP_SECRET, OA_SECRET_KEY):
        assert secret not in caplog.text

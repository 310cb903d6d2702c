"""The Telegram channel against a loopback fake of the Bot API (no internet), and its update mapping."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import replace

import pytest
from telegram.request import BaseRequest

from bot import settings
from bot.processes import free_port
from channels.base import Inbound, Outbound, RetryLater, SendFailed, WebhookRejected, payload_key
from channels.telegram import GREETING, SECRET_HEADER, TEXT_ONLY, TelegramChannel
from tests.channels.fake_telegram import BOT_USER, FakeTelegram, load_update
from tests.loopback import LoopbackServer

TOKEN = "123456:TEST-token_abc"
SECRET = "s3cret_Webhook-token"
CHAT = "5550001112"
FAKE = FakeTelegram(TOKEN)


class NoNetwork(BaseRequest):
    """Fails the test on any use of the network: parsing must not call Telegram."""

    async def initialize(self):
        pass

    async def shutdown(self):
        pass

    @property
    def read_timeout(self):
        return 1.0

    async def do_request(self, *args, **kwargs):
        pytest.fail("the network was used")


@pytest.fixture(scope="module")
def api():
    with LoopbackServer(FAKE.app, port=free_port()) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def channel(api):
    FAKE.reset()
    documents = {"https://bot.example/pdf/HS-1": b"%PDF-1.7 ho so"}

    async def fetch(url):
        return documents.get(url)

    tg = TelegramChannel(TOKEN, SECRET, api_url=api, fetch_document=fetch)
    await tg.start()
    yield tg
    await tg.stop()


def offline(secret=SECRET) -> TelegramChannel:
    return TelegramChannel(TOKEN, secret, api_url="http://127.0.0.1:9", request=NoNetwork())


def body(name: str) -> bytes:
    return json.dumps(load_update(name)).encode()


# -- configuration and start -------------------------------------------------------------------

def test_from_settings_needs_a_token_and_a_webhook_secret(tmp_path):
    config = replace(settings.load(), data_dir=tmp_path, telegram_bot_token=None, telegram_webhook_secret=None,
                     telegram_mode="webhook")
    assert TelegramChannel.from_settings(config) is None
    assert TelegramChannel.from_settings(replace(config, telegram_bot_token=TOKEN)) is None
    on = TelegramChannel.from_settings(replace(config, telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET))
    assert isinstance(on, TelegramChannel) and on.webhook_path == "/channels/telegram/webhook"
    polling = TelegramChannel.from_settings(replace(config, telegram_bot_token=TOKEN, telegram_mode="polling"))
    assert isinstance(polling, TelegramChannel)


async def test_start_calls_get_me(channel):
    assert [c.method for c in FAKE.calls] == ["getMe"]
    assert channel.bot.username == BOT_USER["username"]


async def test_a_wrong_token_fails_at_start_without_showing_it(api):
    tg = TelegramChannel("999:WRONG-token", SECRET, api_url=api)
    with pytest.raises(Exception) as raised:
        await tg.start()
    assert "WRONG-token" not in str(raised.value) and "401" in str(raised.value)
    await tg.stop()


# -- webhook: authenticity ---------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"},
                                     {SECRET_HEADER: ""}])
async def test_missing_or_wrong_secret_is_403(headers):
    with pytest.raises(WebhookRejected) as raised:
        await offline().parse_webhook(headers, body("text"))
    assert raised.value.status == 403


async def test_without_a_configured_secret_every_webhook_is_refused():
    with pytest.raises(WebhookRejected) as raised:
        await offline(secret=None).parse_webhook({SECRET_HEADER: ""}, body("text"))
    assert raised.value.status == 403


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"message": {}}', "\xff".encode("latin-1"),
                                 b'{"update_id": "7"}', b'{"update_id": 7, "message": "x"}',
                                 b'{"update_id": 7, "message": {"message_id": 1, "date": 0, "text": "a"}}'])
async def test_malformed_update_is_400(raw):
    with pytest.raises(WebhookRejected) as raised:
        await offline().parse_webhook({SECRET_HEADER: SECRET}, raw)
    assert raised.value.status == 400


async def test_header_name_is_case_insensitive():
    inbound = await offline().parse_webhook({SECRET_HEADER.lower(): SECRET}, body("text"))
    assert [i.text for i in inbound] == ["làm hộ chiếu cần giấy tờ gì"]


# -- webhook: update mapping (one sample file each) --------------------------------------------

async def parse(name: str) -> list[Inbound]:
    return await offline().parse_webhook({SECRET_HEADER: SECRET}, body(name))


async def test_text_message():
    assert await parse("text") == [Inbound(channel="telegram", user_id=CHAT, message_id="810000001",
                                           text="làm hộ chiếu cần giấy tờ gì",
                                           at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))]


async def test_start_with_a_deep_link_greets():
    [inbound] = await parse("start")
    assert (inbound.text, inbound.user_id, inbound.message_id) == (GREETING, CHAT, "810000002")


@pytest.mark.parametrize("text, expected", [("/start", GREETING), ("/start@thu_tuc_bot", GREETING),
                                            ("/startx", "/startx"), ("nói /start đi", "nói /start đi")])
async def test_only_the_start_command_becomes_a_greeting(text, expected):
    update = load_update("text")
    update["message"]["text"] = text
    [inbound] = await offline().parse_webhook({SECRET_HEADER: SECRET}, json.dumps(update).encode())
    assert inbound.text == expected


async def test_callback_query_carries_the_key_and_the_button_title():
    [inbound] = await parse("callback_query")
    assert inbound.payload_key == payload_key('/chon_thu_tuc{"procedure":"cap_can_cuoc"}')
    assert (inbound.title, inbound.callback_id, inbound.user_id) == ("Cấp thẻ căn cước", "2386412380941287443", CHAT)
    assert inbound.text is None and inbound.payload is None and inbound.message_id == "810000003"


@pytest.mark.parametrize("name", ["sticker", "photo"])
async def test_media_gets_a_polite_text_only_notice(name):
    [inbound] = await parse(name)
    assert inbound.notice == TEXT_ONLY and inbound.text is None and inbound.user_id == CHAT
    assert "chữ" in TEXT_ONLY and "ví dụ" in TEXT_ONLY


@pytest.mark.parametrize("name", ["edited_message", "group_text"])
async def test_edits_and_group_chats_are_ignored(name):
    assert await parse(name) == []


async def test_other_updates_are_ignored():
    update = {"update_id": 5, "channel_post": {"message_id": 1, "date": 1767225600, "text": "tin",
                                               "chat": {"id": -100123, "type": "channel", "title": "Kênh"}}}
    assert await offline().parse_webhook({SECRET_HEADER: SECRET}, json.dumps(update).encode()) == []


# -- sending -----------------------------------------------------------------------------------

async def test_send_message_with_an_inline_keyboard(channel):
    payloads = ['/chon_thu_tuc{"procedure":"cap_ho_chieu"}', "/chon_thu_tuc{\"procedure\":\"" + "x" * 200 + "\"}"]
    await channel.send(CHAT, Outbound("Bạn muốn làm thủ tục nào? <b>&", [
        {"title": "Cấp hộ chiếu phổ thông", "payload": payloads[0]}, {"title": "Khác", "payload": payloads[1]}]))
    [call] = FAKE.calls_to("sendMessage")
    assert call.fields["chat_id"] == CHAT and call.fields["text"] == "Bạn muốn làm thủ tục nào? <b>&"
    assert "parse_mode" not in call.fields   # plain text: nothing to escape
    rows = call.param("reply_markup")["inline_keyboard"]
    assert rows == [[{"text": "Cấp hộ chiếu phổ thông", "callback_data": payload_key(payloads[0])}],
                    [{"text": "Khác", "callback_data": payload_key(payloads[1])}]]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in rows)


async def test_long_text_is_split_at_line_breaks_with_the_keyboard_last(channel):
    lines = [f"Bước {i}: nộp tờ khai và giấy tờ kèm theo tại bộ phận một cửa." for i in range(200)]
    await channel.send(CHAT, Outbound("\n".join(lines), [{"title": "Xong", "payload": "/affirm"}]))
    calls = FAKE.calls_to("sendMessage")
    assert len(calls) >= 3 and all(len(c.fields["text"]) <= 4096 for c in calls)
    assert "\n".join(c.fields["text"] for c in calls).splitlines() == lines   # cut only between lines
    assert [c.param("reply_markup") is not None for c in calls] == [False] * (len(calls) - 1) + [True]


async def test_document_goes_as_multipart_send_document(channel):
    await channel.send(CHAT, Outbound("Hồ sơ của bạn đây.", document_url="https://bot.example/pdf/HS-1",
                                      document_name="HS-2026-7KQ4M9.pdf"))
    assert [c.method for c in FAKE.calls[1:]] == ["sendMessage", "sendDocument"]
    [call] = FAKE.calls_to("sendDocument")
    assert call.content_type.startswith("multipart/form-data") and call.fields["chat_id"] == CHAT
    assert list(call.files.values()) == [("HS-2026-7KQ4M9.pdf", b"%PDF-1.7 ho so")]


async def test_document_that_cannot_be_fetched_goes_as_a_link(channel):
    await channel.send(CHAT, Outbound("Hồ sơ của bạn đây.", document_url="https://bot.example/pdf/gone",
                                      document_name="HS-2.pdf"))
    [call] = FAKE.calls_to("sendMessage")
    assert call.fields["text"] == "Hồ sơ của bạn đây.\n\nTải tệp HS-2.pdf: https://bot.example/pdf/gone"
    assert FAKE.calls_to("sendDocument") == []


async def test_a_retried_message_does_not_repeat_the_pieces_already_sent(channel):
    message = Outbound("Hồ sơ của bạn đây.", document_url="https://bot.example/pdf/HS-1", document_name="HS-1.pdf")
    FAKE.fail_next(1, 500, method="sendDocument")
    with pytest.raises(RetryLater):
        await channel.send(CHAT, message)
    await channel.send(CHAT, message)
    assert [c.method for c in FAKE.calls[1:]] == ["sendMessage", "sendDocument", "sendDocument"]
    await channel.send(CHAT, message)   # a new, identical message is sent whole
    assert [c.method for c in FAKE.calls[4:]] == ["sendMessage", "sendDocument"]


# -- errors: nothing hidden by retries or waits ------------------------------------------------

async def test_429_is_retry_later_with_retry_after_and_no_internal_retry(channel):
    FAKE.fail_next(1, 429, retry_after=37)
    started = time.monotonic()
    with pytest.raises(RetryLater) as raised:
        await channel.send(CHAT, Outbound("Xin chào"))
    assert raised.value.retry_after == 37 and time.monotonic() - started < 5
    assert len(FAKE.calls_to("sendMessage")) == 1


async def test_500_is_retry_later(channel):
    FAKE.fail_next(1, 500)
    with pytest.raises(RetryLater) as raised:
        await channel.send(CHAT, Outbound("Xin chào"))
    assert raised.value.retry_after is None and len(FAKE.calls_to("sendMessage")) == 1


async def test_unreachable_api_is_retry_later():
    tg = TelegramChannel(TOKEN, SECRET, api_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryLater):
        await tg.send(CHAT, Outbound("Xin chào"))
    await tg.stop()


@pytest.mark.parametrize("status", [403, 400])
async def test_blocked_or_unknown_chat_is_send_failed(channel, status):
    FAKE.fail_next(1, status)
    with pytest.raises(SendFailed) as raised:
        await channel.send(CHAT, Outbound("Xin chào"))
    assert CHAT not in str(raised.value) and TOKEN not in str(raised.value)


# -- callback acknowledgement, webhook registration, polling ------------------------------------

async def test_callback_is_acknowledged_with_answer_callback_query(channel):
    [inbound] = await channel.parse_webhook({SECRET_HEADER: SECRET}, body("callback_query"))
    await channel.acknowledge(inbound)
    [call] = FAKE.calls_to("answerCallbackQuery")
    assert call.fields["callback_query_id"] == "2386412380941287443"


async def test_acknowledge_ignores_plain_messages_and_tolerates_failures(channel):
    [text] = await channel.parse_webhook({SECRET_HEADER: SECRET}, body("text"))
    await channel.acknowledge(text)
    FAKE.fail_next(1, 500)
    await channel.acknowledge(Inbound(channel="telegram", user_id=CHAT, message_id="1", callback_id="9"))
    assert len(FAKE.calls_to("answerCallbackQuery")) == 1


async def test_set_and_delete_webhook(channel):
    assert await channel.set_webhook("https://thutuc.example.vn/channels/telegram/webhook")
    [call] = FAKE.calls_to("setWebhook")
    assert call.fields["url"] == "https://thutuc.example.vn/channels/telegram/webhook"
    assert call.fields["secret_token"] == SECRET
    assert call.param("allowed_updates") == ["message", "callback_query"]
    assert await channel.delete_webhook()
    assert len(FAKE.calls_to("deleteWebhook")) == 1


async def test_poll_once_maps_updates_and_confirms_them_with_the_offset(channel):
    for name in ("text", "callback_query", "edited_message"):   # update ids 1, 3, 5
        FAKE.queue_update(load_update(name))
    first = await channel.poll_once(timeout=0)
    assert [(i.text, i.payload_key) for i in first] == [("làm hộ chiếu cần giấy tờ gì", None),
                                                        (None, "k82144e644a9a77d6")]
    assert await channel.poll_once(timeout=0) == []
    polls = FAKE.calls_to("getUpdates")
    assert polls[0].param("offset") is None and polls[1].param("offset") == 810000006
    assert polls[0].param("allowed_updates") == ["message", "callback_query"]


async def test_poll_once_maps_rate_limits(channel):
    FAKE.fail_next(1, 429, retry_after=3, method="getUpdates")
    with pytest.raises(RetryLater) as raised:
        await channel.poll_once(timeout=0)
    assert raised.value.retry_after == 3


async def test_logs_carry_no_text_chat_id_or_token(channel, caplog):
    caplog.set_level(logging.DEBUG)
    await channel.send(CHAT, Outbound("bí mật 079123456789"))
    FAKE.fail_next(1, 403)
    with pytest.raises(SendFailed):
        await channel.send(CHAT, Outbound("bí mật 079123456789"))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "bí mật" not in logged and CHAT not in logged and TOKEN not in logged
    assert "sendMessage" in logged   # httpx's request lines are kept, with the token cut out

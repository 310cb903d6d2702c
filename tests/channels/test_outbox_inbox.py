"""The durable outbox and inbound queue: once, in order per conversation, through outages and restarts."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.inbox import Inbox, InboxWorker
from bot.outbox import MAX_SEND_ATTEMPTS, Outbox, OutboxWorker, backoff_seconds
from channels.base import Channel, Inbound, Outbound, OutsideWindow, RetryLater, SendFailed


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


class FlakyChannel(Channel):
    """Records what it delivered; fails while ``down`` is set (or with a given exception)."""

    name = "telegram"

    def __init__(self):
        self.delivered: list[tuple[str, str]] = []
        self.down: Exception | None = None

    async def parse_webhook(self, headers, body):
        return []

    async def send(self, user_id, message: Outbound):
        if self.down is not None:
            raise self.down
        self.delivered.append((user_id, message.text))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def outbox(tmp_path, clock):
    return Outbox(tmp_path / "bot.db", clock=clock)


async def test_outage_then_back_every_reply_once_and_in_order(outbox, clock, tmp_path):
    channel = FlakyChannel()
    worker = OutboxWorker(outbox, {"telegram": channel})
    for n in range(3):
        outbox.enqueue("telegram:1", "telegram", "1", [{"text": f"a{n}", "buttons": []}])
        outbox.enqueue("telegram:2", "telegram", "2", [{"text": f"b{n}", "buttons": []}])
    channel.down = RetryLater("HTTP 502")
    assert await worker.send_due() == 0
    assert await worker.send_due() == 0                    # not due yet: backoff
    clock.advance(3600)
    channel.down = None
    # a restart in the middle: a new outbox on the same file resumes
    worker = OutboxWorker(Outbox(tmp_path / "bot.db", clock=clock), {"telegram": channel})
    assert await worker.send_due() == 6
    assert [t for u, t in channel.delivered if u == "1"] == ["a0", "a1", "a2"]
    assert [t for u, t in channel.delivered if u == "2"] == ["b0", "b1", "b2"]
    assert await worker.send_due() == 0
    assert all(row["status"] == "sent" and row["reply"] is None for row in outbox.rows())


async def test_retry_after_is_honoured(outbox, clock):
    channel = FlakyChannel()
    worker = OutboxWorker(outbox, {"telegram": channel})
    outbox.enqueue("telegram:1", "telegram", "1", [{"text": "x", "buttons": []}])
    channel.down = RetryLater("429", retry_after=120)
    await worker.send_due()
    channel.down = None
    clock.advance(100)
    assert await worker.send_due() == 0
    clock.advance(30)
    assert await worker.send_due() == 1


async def test_too_many_failures_mark_failed_and_the_next_goes(outbox, clock):
    channel = FlakyChannel()
    worker = OutboxWorker(outbox, {"telegram": channel})
    outbox.enqueue("telegram:1", "telegram", "1", [{"text": "first", "buttons": []}, {"text": "second", "buttons": []}])
    channel.down = RetryLater("HTTP 500")
    for _ in range(MAX_SEND_ATTEMPTS):
        await worker.send_due()
        clock.advance(3600)
    assert [r["status"] for r in outbox.rows()] == ["failed", "pending"]
    assert outbox.failed()[0]["reply"] is None            # the clear text is not kept
    channel.down = None
    assert await worker.send_due() == 1
    assert channel.delivered == [("1", "second")]


async def test_permanent_failure_is_not_retried(outbox):
    channel = FlakyChannel()
    channel.down = SendFailed("blocked")
    outbox.enqueue("telegram:1", "telegram", "1", [{"text": "x", "buttons": []}])
    await OutboxWorker(outbox, {"telegram": channel}).send_due()
    assert [r["status"] for r in outbox.rows()] == ["failed"]


async def test_outside_the_window_waits_until_the_citizen_writes(outbox, clock):
    channel = FlakyChannel()
    channel.window = dt.timedelta(hours=48)
    last = {"zalo:9": clock.now - dt.timedelta(hours=50)}
    channel.name = "zalo"
    worker = OutboxWorker(outbox, {"zalo": channel}, last_inbound=last.get)
    outbox.enqueue("zalo:9", "zalo", "9", [{"text": "Hồ sơ đã có kết quả", "buttons": []}])
    assert await worker.send_due() == 0
    assert [r["status"] for r in outbox.rows()] == ["held"]
    channel.down = OutsideWindow("-230")                   # the platform says so too: still held
    last["zalo:9"] = dt.datetime.now(dt.timezone.utc)
    assert outbox.release("zalo:9") == 1
    assert await worker.send_due() == 0
    channel.down = None
    outbox.release("zalo:9")
    assert await worker.send_due() == 1
    assert channel.delivered == [("9", "Hồ sơ đã có kết quả")]


def test_backoff_grows_and_is_capped():
    assert backoff_seconds(1) < backoff_seconds(5) <= 601
    assert backoff_seconds(50) <= 601


async def test_inbox_accepts_a_delivery_once_and_survives_a_restart(tmp_path):
    inbox = Inbox(tmp_path / "bot.db")
    message = Inbound(channel="zalo", user_id="42", message_id="m-1", text="lệ phí hộ chiếu")
    assert inbox.accept(message) is True
    assert inbox.accept(message) is False                 # the platform retried the webhook
    handled = []

    async def handle(row):
        handled.append((row["conversation_id"], row["text"]))

    worker = InboxWorker(Inbox(tmp_path / "bot.db"), handle)   # after a restart
    assert await worker.process_received() == 1
    assert await worker.process_received() == 0
    assert handled == [("zalo:42", "lệ phí hộ chiếu")]
    assert inbox.accept(message) is False                 # still deduplicated after processing


async def test_inbox_keeps_order_when_a_message_cannot_be_processed(tmp_path):
    inbox = Inbox(tmp_path / "bot.db")
    for n in range(3):
        inbox.accept(Inbound(channel="telegram", user_id="1", message_id=str(n), text=f"m{n}"))
    seen, broken = [], {"m1"}

    async def handle(row):
        if row["text"] in broken:
            raise RuntimeError("bug")
        seen.append(row["text"])

    worker = InboxWorker(inbox, handle)
    await worker.process_received()
    assert seen == ["m0"]                                 # m2 waits behind m1
    broken.clear()
    await worker.process_received()
    assert seen == ["m0", "m1", "m2"]

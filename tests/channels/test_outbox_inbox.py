"""The durable outbox and inbound queue, on SQLite and PostgreSQL: once, in order per conversation,
through outages and restarts, and one sender per message with several workers claiming at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest

from bot.inbox import Inbox, InboxWorker
from bot.outbox import LEASE_SECONDS, MAX_SEND_ATTEMPTS, Outbox, OutboxWorker, backoff_seconds
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
def outbox(app_database, clock):
    return Outbox(app_database, clock=clock)


async def test_outage_then_back_every_reply_once_and_in_order(outbox, clock, app_database):
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
    worker = OutboxWorker(Outbox(app_database, clock=clock), {"telegram": channel})
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


async def test_inbox_accepts_a_delivery_once_and_survives_a_restart(app_database):
    inbox = Inbox(app_database)
    message = Inbound(channel="zalo", user_id="42", message_id="m-1", text="lệ phí hộ chiếu")
    assert inbox.accept(message) is True
    assert inbox.accept(message) is False                 # the platform retried the webhook
    handled = []

    async def handle(row):
        handled.append((row["conversation_id"], row["text"]))

    worker = InboxWorker(Inbox(app_database), handle)   # after a restart
    assert await worker.process_received() == 1
    assert await worker.process_received() == 0
    assert handled == [("zalo:42", "lệ phí hộ chiếu")]
    assert inbox.accept(message) is False                 # still deduplicated after processing


async def test_inbox_keeps_order_when_a_message_cannot_be_processed(app_database):
    inbox = Inbox(app_database)
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


def test_the_inbox_erases_the_text_once_processed(app_database):
    inbox = Inbox(app_database)
    assert inbox.accept(Inbound(channel="telegram", user_id="1", message_id="7", text="số 001190012345",
                                payload="/x", title="X"))
    assert inbox.accept(Inbound(channel="zalo", user_id="1", message_id="7", text="b"))   # another platform's "7"
    first, second = inbox.received()
    assert (first["text"], first["payload"], first["status"]) == ("số 001190012345", "/x", "received")
    inbox.done(first["id"])
    assert [row["id"] for row in inbox.received()] == [second["id"]]
    row = inbox.db.one("SELECT * FROM inbox WHERE id = ?", (first["id"],))
    assert (row["status"], row["text"], row["payload"], row["title"]) == ("done", None, None, None)


def test_a_claimed_message_is_not_claimed_again_until_its_lease_runs_out(outbox, clock):
    first, second = outbox.enqueue("telegram:1", "telegram", "1", [{"text": "a"}, {"text": "b"}])
    assert [row["id"] for row in outbox.due()] == [first]            # a look claims nothing
    assert [row["id"] for row in outbox.claim()] == [first]
    assert outbox.claim() == [] and outbox.due() == []               # leased; "b" waits behind "a"
    clock.advance(LEASE_SECONDS + 1)                                 # the worker died mid-send
    assert [row["id"] for row in outbox.claim()] == [first]
    outbox.mark_sent(first)
    assert [row["id"] for row in outbox.claim()] == [second]


def test_two_workers_claiming_at_once_never_get_the_same_message(outbox):
    conversations, per_conversation = 20, 5
    for n in range(per_conversation):
        for c in range(conversations):
            outbox.enqueue(f"telegram:{c}", "telegram", str(c), [{"text": f"{c}-{n}"}])
    start, claimed, errors = threading.Barrier(2), [[], []], []

    def worker(k):
        start.wait()
        try:
            while True:
                rows = outbox.claim(limit=3)
                if not rows:
                    if all(row["status"] == "sent" for row in outbox.rows()):
                        return
                    continue                                         # the other worker holds the heads
                for row in rows:
                    claimed[k].append((row["conversation_id"], row["id"]))
                    outbox.mark_sent(row["id"])
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    ids = [i for _, i in claimed[0] + claimed[1]]
    assert len(ids) == len(set(ids)) == conversations * per_conversation   # each once, none twice
    assert claimed[0] and claimed[1]                                       # both took part
    for c in range(conversations):                                         # and each conversation in order
        sent = sorted((i for cid, i in claimed[0] + claimed[1] if cid == f"telegram:{c}"))
        assert sent == [row["id"] for row in outbox.rows(f"telegram:{c}")]


async def test_two_outbox_workers_send_every_reply_once(app_database, clock):
    channel = FlakyChannel()
    for n in range(4):
        for c in range(10):
            Outbox(app_database, clock=clock).enqueue(f"telegram:{c}", "telegram", str(c), [{"text": f"{c}-{n}"}])
    workers = [OutboxWorker(Outbox(app_database, clock=clock), {"telegram": channel}) for _ in range(2)]
    for _ in range(10):
        await asyncio.gather(*(worker.send_due() for worker in workers))
    assert sorted(channel.delivered) == sorted((str(c), f"{c}-{n}") for c in range(10) for n in range(4))
    for c in range(10):
        assert [t for u, t in channel.delivered if u == str(c)] == [f"{c}-{n}" for n in range(4)]


def test_a_conversation_claimed_by_another_process_is_left_to_it(app_database):
    first, second = Inbox(app_database, holder="app-1"), Inbox(app_database, holder="app-2")
    for n, user in enumerate(["1", "1", "2"]):
        first.accept(Inbound(channel="telegram", user_id=user, message_id=str(n), text=f"m{n}"))
    assert [r["text"] for r in first.claim()] == ["m0", "m1", "m2"]
    first.done(first.claim()[0]["id"])                       # m0 done; m1 (telegram:1) and m2 still claimed
    assert second.claim() == []
    first.release()                                          # app-1 stops
    assert [r["text"] for r in second.claim()] == ["m1", "m2"]
    assert [r["text"] for r in first.claim()] == []          # now app-2's
    assert [r["text"] for r in second.claim(seconds=-1)] == ["m1", "m2"]   # a claim that ran out …
    assert [r["text"] for r in first.claim()] == ["m1", "m2"]               # … is taken by another


async def test_two_inbox_workers_hand_every_message_over_once_and_in_order(app_database):
    import asyncio

    writer = Inbox(app_database)
    for n in range(24):
        writer.accept(Inbound(channel="zalo", user_id=str(n % 4), message_id=str(n), text=f"{n % 4}:{n}"))
    handled: list[str] = []

    async def handle(row):
        await asyncio.sleep(0.01)
        handled.append(row["text"])

    workers = [InboxWorker(Inbox(app_database), handle) for _ in range(2)]
    for _ in range(30):
        await asyncio.gather(*(worker.process_received() for worker in workers))
        if len(handled) >= 24:
            break
    assert sorted(handled) == sorted(f"{n % 4}:{n}" for n in range(24))      # each once
    for user in range(4):
        mine = [int(t.split(":")[1]) for t in handled if t.startswith(f"{user}:")]
        assert mine == sorted(mine)                                          # in order per conversation

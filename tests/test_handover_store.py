"""The handover store (bot/handover/store.py) on both engines (``app_database``: a SQLite file, then
a database on a real PostgreSQL server): the queue, claims, ends, ratings, notes, canned replies,
presence, call-backs and the purge; and its races with threads: of two volunteers claiming the
same chat exactly one wins, and a conversation asking twice at once gets one open handover."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from bot import db as dbmod
from bot.handover.store import AlreadyClaimed, HandoverStore, NotFound

TEAM = "phuong-ben-thanh"
UTC = dt.timezone.utc


class Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def store(app_database, clock):
    return HandoverStore(app_database, clock=clock)


def kinds(store, conversation_id=None):
    return [e["kind"] for e in store.events() if conversation_id in (None, e["conversation_id"])]


def race(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; each thread's result or exception."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - the test looks at what each thread got
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- the queue ------------------------------------------------------------------------------------

def test_request_queues_once_per_conversation_and_keeps_the_first_procedure(store, clock):
    first, created = store.request("web-1", "web", "asked")
    assert created and first.state == "waiting" and first.open and first.paused is False
    assert isinstance(first.id, int) and first.procedure is None
    again, created = store.request("web-1", "web", "asked", procedure="ho-chieu")
    assert not created and again.id == first.id and again.procedure == "ho-chieu"
    kept, _ = store.request("web-1", "web", "asked", procedure="khac")
    assert kept.procedure == "ho-chieu"
    clock.advance(seconds=1)
    second, _ = store.request("zalo-2", "zalo", "repeated")
    assert second.id > first.id
    assert [h.conversation_id for h in store.waiting()] == ["web-1", "zalo-2"]
    assert store.position("zalo-2") == 2 and store.position("nobody") is None
    assert kinds(store) == ["requested", "requested"]
    assert store.events()[0]["detail"] == {"reason": "asked", "channel": "web"}
    assert store.last_event_id() == store.events()[-1]["id"]


def test_the_partial_unique_index_allows_one_open_handover_per_conversation(store):
    handover, _ = store.request("web-1", "web", "asked")
    insert = ("INSERT INTO handovers (conversation_id, channel, state, reason, requested_at)"
              " VALUES ('web-1', 'web', 'waiting', 'asked', '2026-03-02T08:00:00+00:00')")
    with pytest.raises(dbmod.ERRORS):
        store.db.execute(insert)
    store.end(handover.id, "released", "lan.nguyen")
    again, created = store.request("web-1", "web", "asked again")
    assert created and again.id != handover.id
    assert store.latest_for("web-1").id == again.id and store.get(handover.id).state == "closed"


def test_claim_assign_reply_requeue_and_end(store, clock):
    handover, _ = store.request("web-1", "web", "asked")
    with pytest.raises(NotFound):
        store.claim("nobody", "lan.nguyen", TEAM)
    clock.advance(minutes=1)
    claimed = store.claim("web-1", "lan.nguyen", TEAM)
    assert (claimed.state, claimed.assigned_to, claimed.team) == ("claimed", "lan.nguyen", TEAM)
    with pytest.raises(AlreadyClaimed) as refused:
        store.claim("web-1", "minh.tran", TEAM)
    assert refused.value.owner == "lan.nguyen" and refused.value.state == "claimed"
    assert [h.id for h in store.claimed_by("lan.nguyen")] == [handover.id]
    assert [h.id for h in store.listing("claimed", team=TEAM)] == [handover.id]
    assert store.listing("claimed", team=None) == [] and store.listing("claimed", team="other") == []
    assert [h.id for h in store.listing("claimed", all_teams=True, assigned_to="lan.nguyen")] == [handover.id]

    store.set_paused(handover.id, True)
    store.set_notified_position(handover.id, 3)
    store.citizen_wrote(handover.id)
    store.volunteer_replied(handover.id, "lan.nguyen", TEAM)
    now = store.get(handover.id)
    assert now.paused is True and now.notified_position == 3 and now.last_volunteer_at is not None

    moved = store.assign("web-1", "minh.tran", TEAM, by="binh.le")
    assert moved.assigned_to == "minh.tran" and moved.claimed_at == claimed.claimed_at
    back = store.requeue(handover.id, "timeout")
    assert back.state == "waiting" and back.assigned_to is None and back.notified_position is None
    assert store.requeue(handover.id, "timeout") is None
    assert store.listing("waiting")[0].id == handover.id

    store.claim("web-1", "lan.nguyen", TEAM)
    clock.advance(minutes=5)
    ended = store.end(handover.id, "closed", "lan.nguyen", "xong")
    assert (ended.state, ended.outcome, ended.close_reason) == ("closed", "closed", "xong")
    assert ended.rating_asked_at is not None
    with pytest.raises(NotFound):
        store.end(handover.id, "closed", "lan.nguyen")
    with pytest.raises(ValueError):
        store.end(handover.id, "lost", "lan.nguyen")
    assert [h.id for h in store.listing("closed", team=TEAM)] == [handover.id]
    assert store.recent_handling_seconds() == [300.0]
    assert kinds(store) == ["requested", "claimed", "replied", "assigned", "requeued", "claimed", "closed"]
    requeued = next(e for e in store.events() if e["kind"] == "requeued")
    assert requeued["detail"] == {"why": "timeout", "from": "minh.tran"} and requeued["actor"] == "minh.tran"


def test_a_rating_counts_once_and_only_when_asked(store):
    released, _ = store.request("web-1", "web", "asked")
    store.end(released.id, "released", "lan.nguyen")
    assert store.rate(released.id, 5, None) is False       # handed back: never asked
    closed, _ = store.request("web-2", "web", "asked")
    store.end(closed.id, "closed", "lan.nguyen")
    assert store.rate(closed.id, 4, "nhanh") is True
    assert store.rate(closed.id, 1, None) is False
    assert store.rate(999_999, 3, None) is False
    rated = store.get(closed.id)
    assert (rated.rating, rated.rating_comment) == (4, "nhanh")
    assert store.events()[-1]["detail"] == {"score": 4, "comment": "nhanh"}


def test_stale_claims_are_the_unanswered_ones(store, clock):
    quiet, _ = store.request("web-quiet", "web", "asked")
    answered, _ = store.request("web-answered", "web", "asked")
    store.claim("web-quiet", "lan.nguyen", TEAM)
    store.claim("web-answered", "lan.nguyen", TEAM)
    store.volunteer_replied(answered.id, "lan.nguyen", TEAM)
    clock.advance(minutes=10)
    assert [h.id for h in store.stale_claims(clock.now - dt.timedelta(minutes=5))] == [quiet.id]
    assert store.stale_claims(clock.now - dt.timedelta(minutes=15)) == []
    store.citizen_wrote(answered.id)                          # the citizen wrote again, unanswered
    assert store.stale_claims(clock.now - dt.timedelta(minutes=5)) == [store.get(quiet.id)]
    clock.advance(minutes=10)
    assert {h.id for h in store.stale_claims(clock.now - dt.timedelta(minutes=5))} == {quiet.id, answered.id}


def test_messages_of_open_handovers(store, app_database):
    from bot.store import MessageStore

    messages = MessageStore(app_database)
    before = store.last_message_id()
    messages.add("web-1", "in", "cho mình gặp người thật")
    messages.add("web-other", "in", "xin chào")
    store.request("web-1", "web", "asked")
    reply = messages.add("web-1", "out", "chào bạn", author="lan.nguyen")
    assert store.last_message("web-1")["text"] == "chào bạn"
    assert store.last_message("nobody") is None
    after = store.messages_after(before)
    assert [m["conversation_id"] for m in after] == ["web-1", "web-1"] and after[-1]["author"] == "lan.nguyen"
    assert store.last_message_id() == reply


# --- notes, canned replies, presence ---------------------------------------------------------------

def test_notes_get_ids_and_an_event(store):
    handover, _ = store.request("web-1", "web", "asked")
    first = store.add_note("web-1", "lan.nguyen", "gọi lại sau", handover.id)
    second = store.add_note("web-1", "minh.tran", "đã gọi", None)
    assert second["id"] > first["id"]
    assert [n["text"] for n in store.notes("web-1")] == ["gọi lại sau", "đã gọi"]
    notes = [e for e in store.events() if e["kind"] == "note"]
    assert [(e["handover_id"], e["actor"]) for e in notes] == [(handover.id, "lan.nguyen"), (0, "minh.tran")]


def test_canned_replies_seed_once_upsert_and_delete(store):
    store.seed_canned([("chao", "Xin chào"), ("cam-on", "Cảm ơn bạn")])
    store.seed_canned([("khac", "không thêm")])
    assert [r["code"] for r in store.canned()] == ["cam-on", "chao"]
    store.save_canned("chao", "Chào bạn ạ", "binh.le")
    store.save_canned("ban-dem", "Ngoài giờ", "binh.le")
    replies = {r["code"]: r for r in store.canned()}
    assert replies["chao"]["text"] == "Chào bạn ạ" and replies["chao"]["updated_by"] == "binh.le"
    assert [r["code"] for r in store.canned()] == ["ban-dem", "cam-on", "chao"]
    assert store.delete_canned("chao") is True and store.delete_canned("chao") is False


def test_presence_upserts_and_who_is_online(store, clock):
    store.set_presence("lan.nguyen", "online")
    store.set_presence("minh.tran", "away")
    with pytest.raises(ValueError):
        store.set_presence("lan.nguyen", "busy")
    clock.advance(minutes=2)
    store.seen("lan.nguyen")
    store.seen("nobody")                                     # no row: nothing happens
    assert store.online(clock.now - dt.timedelta(minutes=1)) == ["lan.nguyen"]
    assert store.gone(clock.now - dt.timedelta(minutes=1)) == ["minh.tran"]
    store.set_presence("lan.nguyen", "offline")
    assert store.online(clock.now - dt.timedelta(minutes=1)) == []
    assert set(store.presence()) == {"lan.nguyen", "minh.tran"}
    assert store.presence()["lan.nguyen"]["status"] == "offline"


# --- call-backs ------------------------------------------------------------------------------------

def test_a_callback_from_draft_to_done_keeps_only_the_masked_number(store, clock):
    store.start_callback("web-1")
    store.callback_phone("web-1", "0912345678")
    store.start_callback("web-1")                            # asked again: a fresh draft replaces it
    since = clock.now - dt.timedelta(minutes=1)
    draft = store.callback_draft("web-1", since)
    assert (draft["step"], draft["phone"]) == ("phone", None)
    store.callback_phone("web-1", "0912345678")
    assert store.callback_draft("web-1", since)["step"] == "question"
    assert store.callback_draft("web-1", clock.now + dt.timedelta(minutes=1)) is None

    callback = store.add_callback("web-1", "web", "hộ chiếu mất bao lâu", "0912345678", "ho-chieu")
    assert store.callback_draft("web-1", since) is None
    assert callback.phone == "0912345678" and callback.phone_masked != callback.phone
    assert store.open_callbacks() == 1 and [c.id for c in store.callbacks()] == [callback.id]
    done = store.callback_done(callback.id, "lan.nguyen", TEAM)
    assert done.state == "done" and done.phone is None and done.done_by == "lan.nguyen"
    assert done.public(with_phone=True)["phone"] == callback.phone_masked
    assert store.callback_done(callback.id, "minh.tran", TEAM).done_by == "lan.nguyen"
    assert store.open_callbacks() == 0 and [c.id for c in store.callbacks("done")] == [callback.id]
    assert store.callback(999_999) is None
    assert kinds(store) == ["callback_requested", "callback_done"]
    assert store.events()[0]["detail"] == {"callback_id": callback.id}

    store.start_callback("web-2")
    store.drop_callback_draft("web-2")
    assert store.callback_draft("web-2", since) is None


# --- retention -------------------------------------------------------------------------------------

def test_the_purge_deletes_what_is_older_than_the_retention(store, clock):
    old, _ = store.request("web-old", "web", "asked")
    store.claim("web-old", "lan.nguyen", TEAM)
    store.add_note("web-old", "lan.nguyen", "ghi chú", old.id)
    store.end(old.id, "closed", "lan.nguyen")
    store.add_callback("web-old", "web", "câu hỏi", "0912345678", None)
    store.start_callback("web-draft")
    still_open, _ = store.request("web-open", "web", "asked")   # open handovers are never purged
    clock.advance(days=40)
    recent, _ = store.request("web-new", "web", "asked")
    assert store.purge(clock.now - dt.timedelta(days=30)) == 1
    assert store.latest_for("web-old") is None and store.notes("web-old") == []
    assert store.callbacks("open") == [] and store.callback_draft("web-draft", dt.datetime(2000, 1, 1, tzinfo=UTC)) is None
    assert [e["conversation_id"] for e in store.events()] == ["web-new"]
    assert store.open_for("web-open").id == still_open.id and store.open_for("web-new").id == recent.id
    assert store.purge(clock.now - dt.timedelta(days=30)) == 0


def test_a_store_opened_on_the_same_database_sees_the_same_rows(store, app_database):
    handover, _ = store.request("web-1", "web", "asked")
    other = HandoverStore(dbmod.database(app_database))
    assert other.db is store.db and other.open_for("web-1") == handover
    other.close()
    assert store.open_for("web-1") == handover                 # close() leaves the shared database alone


# --- races -------------------------------------------------------------------------------------------

def test_two_volunteers_claiming_at_once_exactly_one_wins(store):
    """Each round: two threads claim the same waiting chat together; one gets it, the other is told
    who has it, and one claim event is written."""
    for round_ in range(30):
        conversation = f"web-race-{round_}"
        store.request(conversation, "web", "asked")
        names = ["lan.nguyen", "minh.tran"]
        results = race(2, lambda i: store.claim(conversation, names[i], TEAM))
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], AlreadyClaimed), results
        assert lost[0].owner == won[0].assigned_to
        assert store.open_for(conversation).assigned_to == won[0].assigned_to
        assert kinds(store, conversation) == ["requested", "claimed"]


def test_many_volunteers_claiming_many_chats_each_chat_has_one_owner(store):
    chats = [f"web-{i}" for i in range(6)]
    for chat in chats:
        store.request(chat, "web", "asked")
    volunteers = 8

    def claim_all(i):
        won = []
        for chat in chats:
            try:
                won.append(store.claim(chat, f"volunteer-{i}", TEAM).conversation_id)
            except AlreadyClaimed:
                pass
        return won

    results = race(volunteers, claim_all)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(chat for won in results for chat in won) == sorted(chats)
    assert [e["kind"] for e in store.events()].count("claimed") == len(chats)


def test_a_conversation_asking_twice_at_once_gets_one_open_handover(store):
    results = race(6, lambda i: store.request("web-twice", "web", "asked"))
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len({handover.id for handover, _ in results}) == 1
    assert store.db.scalar("SELECT COUNT(*) FROM handovers WHERE conversation_id = ?", ("web-twice",)) == 1
    assert kinds(store) == ["requested"]


def test_a_claim_racing_the_end_of_the_chat_never_reopens_it(store):
    for round_ in range(20):
        conversation = f"web-end-{round_}"
        handover, _ = store.request(conversation, "web", "asked")

        def work(i):
            return store.claim(conversation, "lan.nguyen", TEAM) if i == 0 else \
                store.end(handover.id, "released", "binh.le")

        results = race(2, work)
        claim, end = results
        assert not isinstance(end, Exception), results
        assert claim is None or isinstance(claim, NotFound) or claim.state == "claimed", results
        assert store.get(handover.id).state == "closed" and store.open_for(conversation) is None

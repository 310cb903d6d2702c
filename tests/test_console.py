"""The volunteer console's API end to end: the bot app on a loopback port, a stand-in Rasa
(tests/handover_fakes.py) and real accounts, cookies and CSRF tokens.

A citizen on the web chat asks for a person → queued with a place; a volunteer claims (the bot
goes silent, Rasa's tracker is paused and still records), replies (the citizen sees it), hands
back (the bot answers again) or closes (the citizen rates). Plus the authorization rules, the
claim race, call-backs, time-outs and presence.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace

import httpx
import pytest
from argon2 import PasswordHasher

from bot import settings
from bot.accounts import AccountStore
from bot.app import create_app
from bot.handover import desk as desk_module
from tests.conftest import free_port
from tests.handover_fakes import FakeRasa
from tests.loopback import LoopbackServer
from tests.webchat import AppServer, new_conversation

PASSWORD = "Mật khẩu rất dài 2026"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
TEAM = "phuong-ben-thanh"
OTHER_TEAM = "phuong-sai-gon"


def make_config(tmp_path, **overrides) -> settings.Settings:
    values = dict(data_dir=tmp_path, rasa_port=free_port(), port=free_port(), rasa_timeout=3.0,
                  secret_override="test-secret", rate_limit_per_minute=0, conversation_rate_per_minute=0,
                  office_hours="always")
    values.update(overrides)
    return replace(settings.load(), **values)


def add_accounts(config) -> None:
    accounts = AccountStore.from_settings(config, hasher=FAST)
    accounts.add("lan.nguyen", PASSWORD, "volunteer", team=TEAM, display_name="Nguyễn Thị Lan")
    accounts.add("minh.tran", PASSWORD, "volunteer", team=TEAM, display_name="Trần Văn Minh")
    accounts.add("hoa.pham", PASSWORD, "volunteer", team=OTHER_TEAM, display_name="Phạm Thị Hoa")
    accounts.add("binh.le", PASSWORD, "supervisor", team=TEAM, display_name="Lê Văn Bình")
    accounts.add("admin", PASSWORD, "admin")
    accounts.close()


class Console:
    """One volunteer's browser: its own cookie jar and CSRF token."""

    def __init__(self, base_url: str, username: str):
        self.client = httpx.Client(base_url=base_url, timeout=20)
        self.username = username
        response = self.client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf_token"]

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, body: dict | None = None, csrf: bool = True) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.client.post(path, json=body or {}, headers=headers)

    def tab(self, name: str) -> list[dict]:
        response = self.get(f"/console/api/conversations?tab={name}")
        assert response.status_code == 200, response.text
        return response.json()["conversations"]

    def detail(self, conversation_id: str) -> dict:
        response = self.get(f"/console/api/conversations/{conversation_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.client.close()


class Citizen:
    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=base_url, timeout=20)
        self.id, self.headers = new_conversation(base_url)

    def say(self, text: str | None = None, **body) -> dict:
        payload = {"conversation_id": self.id, **({"text": text} if text is not None else {}), **body}
        response = self.client.post("/api/messages", json=payload, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def history(self) -> list[dict]:
        response = self.client.get(f"/api/conversations/{self.id}/messages", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def texts(self) -> list[str]:
        return [m["text"] for m in self.history() if m["direction"] == "out"]


@pytest.fixture
def fake_rasa():
    return FakeRasa()


@pytest.fixture
def running(tmp_path, fake_rasa):
    config = make_config(tmp_path)
    fake_rasa.token = config.rasa_token
    add_accounts(config)
    with LoopbackServer(fake_rasa.app, config.rasa_port), AppServer(create_app(config), config.port) as server:
        server.config = config
        yield server


@pytest.fixture
def lan(running):
    console = Console(running.url, "lan.nguyen")
    yield console
    console.close()


def hand_over(running) -> Citizen:
    citizen = Citizen(running.url)
    citizen.say("cho mình hỏi làm hộ chiếu")
    answer = citizen.say("cho mình gặp người thật")
    assert "vị trí số" in answer["replies"][-1]["text"], answer
    return citizen


# --- the whole way ---------------------------------------------------------------------------------

def test_queue_claim_reply_release_and_the_bot_resumes_with_its_context(running, lan, fake_rasa):
    citizen = hand_over(running)
    assert "vị trí số 1" in citizen.texts()[-1]
    waiting = lan.tab("waiting")
    assert [c["id"] for c in waiting] == [citizen.id]
    assert waiting[0]["position"] == 1 and waiting[0]["channel"] == "web"
    assert waiting[0]["procedure"] == "ho-chieu" and waiting[0]["assigned_to"] is None

    claimed = lan.post(f"/console/api/conversations/{citizen.id}/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assigned_to"] == "lan.nguyen" and claimed.json()["can_reply"] is True
    assert "Nguyễn Thị Lan đã nhận" in citizen.texts()[-1]
    assert fake_rasa.paused[citizen.id]

    before = len(citizen.history())
    answer = citizen.say("em cần mang theo giấy tờ gì ạ")
    assert answer["replies"] == []                          # the bot stays silent while a person has it
    assert len(citizen.history()) == before + 1
    recorded = [e for e in fake_rasa.events[citizen.id] if e.get("event") == "user"]
    assert recorded[-1]["text"] == "em cần mang theo giấy tờ gì ạ"   # still in the bot's record

    sent = lan.post(f"/console/api/conversations/{citizen.id}/messages", {"text": "Chào bạn, bạn cần CCCD."})
    assert sent.status_code == 201, sent.text
    last = citizen.history()[-1]
    assert last["direction"] == "out" and last["text"] == "Chào bạn, bạn cần CCCD."
    assert {"event": "bot", "text": "Chào bạn, bạn cần CCCD.", "metadata": {"volunteer": "lan.nguyen"}} \
        in fake_rasa.events[citizen.id]

    detail = lan.detail(citizen.id)
    senders = [m["sender"] for m in detail["messages"]]
    assert {"citizen", "bot", "volunteer"} <= set(senders)
    assert detail["messages"][-1]["author_name"] == "Nguyễn Thị Lan"
    assert detail["intents"][0]["name"] == "nlu_fallback" and detail["procedure"] == "ho-chieu"
    assert lan.tab("mine")[0]["id"] == citizen.id and lan.tab("waiting") == []

    released = lan.post(f"/console/api/conversations/{citizen.id}/release")
    assert released.status_code == 200, released.text
    assert not fake_rasa.paused[citizen.id]
    assert "trả lại cuộc trò chuyện cho trợ lý" in citizen.texts()[-1] and "hộ chiếu" in citizen.texts()[-1]
    answer = citizen.say("lệ phí hộ chiếu bao nhiêu")
    assert answer["replies"][0]["text"] == "Bot trả lời: lệ phí hộ chiếu bao nhiêu"
    assert lan.tab("closed")[0]["outcome"] == "released"


def test_close_asks_for_a_rating_and_the_figures_count_it(running, lan):
    citizen = hand_over(running)
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    lan.post(f"/console/api/conversations/{citizen.id}/messages", {"text": "Mình đã hướng dẫn xong."})
    closed = lan.post(f"/console/api/conversations/{citizen.id}/close", {"reason": "đã giải đáp"})
    assert closed.status_code == 200, closed.text
    rating = citizen.history()[-1]
    assert "từ 1" in rating["text"] and [b["payload"] for b in rating["buttons"]][-1] == "/rate_5"
    thanks = citizen.say(payload="/rate_4", title="4")
    assert "Cảm ơn bạn đã đánh giá" in thanks["replies"][0]["text"]
    assert lan.detail(citizen.id)["rating"] == {"score": 4, "comment": None}
    again = citizen.say(payload="/rate_1", title="1")          # one rating per chat
    assert lan.detail(citizen.id)["rating"]["score"] == 4, again
    figures = lan.get("/console/api/figures?days=7").json()
    today = figures["days"][0]
    assert today["team"] == TEAM and today["handed_over"] == 1 and today["ratings"] == 1
    assert today["rating_avg"] == 4.0 and today["wait_median_s"] is not None
    csv = lan.get("/console/api/figures?days=7&format=csv")
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("Ngày")


def test_a_typed_rating_with_a_comment(running, lan):
    citizen = hand_over(running)
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    lan.post(f"/console/api/conversations/{citizen.id}/close", {"reason": "xong"})
    citizen.say("5 hướng dẫn rất rõ, cảm ơn")
    assert lan.detail(citizen.id)["rating"] == {"score": 5, "comment": "hướng dẫn rất rõ, cảm ơn"}


def test_notes_are_never_sent_to_the_citizen(running, lan):
    citizen = hand_over(running)
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    note = lan.post(f"/console/api/conversations/{citizen.id}/notes", {"text": "Người dân lớn tuổi, nói chậm"})
    assert note.status_code == 201, note.text
    assert lan.detail(citizen.id)["notes"][0]["text"] == "Người dân lớn tuổi, nói chậm"
    assert not any("lớn tuổi" in text for text in citizen.texts())


# --- claims --------------------------------------------------------------------------------------

def test_fifty_rounds_of_two_volunteers_claiming_at_once_give_exactly_one_owner(running):
    lan, minh = Console(running.url, "lan.nguyen"), Console(running.url, "minh.tran")
    try:
        for _ in range(50):
            citizen = Citizen(running.url)
            citizen.say("cho mình gặp người thật")
            results: dict[str, int] = {}
            barrier = threading.Barrier(2)

            def claim(console):
                barrier.wait()
                results[console.username] = console.post(f"/console/api/conversations/{citizen.id}/claim").status_code

            threads = [threading.Thread(target=claim, args=(c,)) for c in (lan, minh)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(results.values()) == [200, 409], results
            winner = next(name for name, status in results.items() if status == 200)
            with sqlite3.connect(running.config.app_db) as db:
                owners = db.execute("SELECT assigned_to FROM handovers WHERE conversation_id = ?",
                                    (citizen.id,)).fetchall()
                claims = db.execute("SELECT COUNT(*) FROM handover_events WHERE conversation_id = ? AND kind = 'claimed'",
                                    (citizen.id,)).fetchone()[0]
            assert owners == [(winner,)] and claims == 1
            citizen.client.close()
    finally:
        lan.close()
        minh.close()


def test_the_second_claim_is_told_who_has_it(running, lan):
    citizen = hand_over(running)
    minh = Console(running.url, "minh.tran")
    assert lan.post(f"/console/api/conversations/{citizen.id}/claim").status_code == 200
    second = minh.post(f"/console/api/conversations/{citizen.id}/claim")
    assert second.status_code == 409 and second.json()["assigned_to"] == "lan.nguyen"
    assert "lan.nguyen" in second.json()["error"]
    refused = minh.post(f"/console/api/conversations/{citizen.id}/messages", {"text": "xin chào"})
    assert refused.status_code == 409
    minh.close()


def test_a_supervisor_reassigns_within_the_team(running, lan):
    citizen = hand_over(running)
    binh = Console(running.url, "binh.le")
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    assert lan.post(f"/console/api/conversations/{citizen.id}/assign", {"username": "minh.tran"}).status_code == 403
    other = binh.post(f"/console/api/conversations/{citizen.id}/assign", {"username": "hoa.pham"})
    assert other.status_code == 403                          # not the supervisor's team
    moved = binh.post(f"/console/api/conversations/{citizen.id}/assign", {"username": "minh.tran"})
    assert moved.status_code == 200 and moved.json()["assigned_to"] == "minh.tran"
    assert lan.post(f"/console/api/conversations/{citizen.id}/messages", {"text": "x"}).status_code == 409
    binh.close()


# --- authorization ---------------------------------------------------------------------------------

def test_another_teams_chat_is_403_by_url_and_api(running, lan):
    citizen = hand_over(running)
    hoa = Console(running.url, "hoa.pham")
    assert hoa.get(f"/console/api/conversations/{citizen.id}").status_code == 200   # waiting: the city's queue
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    for response in (hoa.get(f"/console/api/conversations/{citizen.id}"),
                     hoa.post(f"/console/api/conversations/{citizen.id}/messages", {"text": "xin chào"}),
                     hoa.post(f"/console/api/conversations/{citizen.id}/notes", {"text": "x"}),
                     hoa.post(f"/console/api/conversations/{citizen.id}/release"),
                     hoa.post(f"/console/api/conversations/{citizen.id}/close", {"reason": "x"})):
        assert response.status_code == 403, response.text
    assert citizen.id not in [c["id"] for c in hoa.tab("mine") + hoa.tab("closed")]
    admin = Console(running.url, "admin")
    assert admin.get(f"/console/api/conversations/{citizen.id}").status_code == 200
    hoa.close()
    admin.close()


def test_after_logout_nothing_works_and_the_chat_goes_back_to_the_queue(running, lan):
    citizen = hand_over(running)
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    assert lan.post("/api/auth/logout").status_code == 200
    assert lan.get("/console/api/conversations?tab=mine").status_code == 401
    assert lan.post(f"/console/api/conversations/{citizen.id}/messages", {"text": "còn đây"}).status_code == 401
    minh = Console(running.url, "minh.tran")
    assert [c["id"] for c in minh.tab("waiting")] == [citizen.id]
    assert "xếp bạn lại vào hàng chờ" in citizen.texts()[-1]
    minh.close()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(running, lan):
    citizen = hand_over(running)
    refused = lan.post(f"/console/api/conversations/{citizen.id}/claim", csrf=False)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    assert lan.tab("waiting")[0]["assigned_to"] is None


def test_five_wrong_passwords_lock_the_console_account(running):
    client = httpx.Client(base_url=running.url)
    statuses = [client.post("/api/auth/login", json={"username": "lan.nguyen", "password": "sai"}).status_code
                for _ in range(5)]
    assert statuses == [401] * 4 + [423]
    locked = client.post("/api/auth/login", json={"username": "lan.nguyen", "password": PASSWORD})
    assert locked.status_code == 423 and "Retry-After" in locked.headers
    client.close()


def test_a_citizen_cannot_reach_the_console_api(running, lan):
    citizen = hand_over(running)
    anonymous = httpx.Client(base_url=running.url)
    assert anonymous.get("/console/api/conversations?tab=waiting").status_code == 401
    assert anonymous.get(f"/console/api/conversations/{citizen.id}", headers=citizen.headers).status_code == 401
    anonymous.close()


# --- no one to take it: call-back -------------------------------------------------------------------

def test_with_nobody_online_the_citizen_leaves_a_number_for_a_call_back(running):
    citizen = Citizen(running.url)
    offer = citizen.say("cho mình gặp người thật")["replies"][-1]
    assert "chưa có tư vấn viên nào trực tuyến" in offer["text"]
    assert offer["buttons"] == [{"title": "Để lại số điện thoại", "payload": "/callback"}]
    assert "số điện thoại" in citizen.say(payload="/callback", title="Để lại số điện thoại")["replies"][0]["text"]
    assert "10 chữ số" in citizen.say("0912 345")["replies"][0]["text"]     # validated like the dossier forms
    assert "hỗ trợ việc gì" in citizen.say("0912 345 678")["replies"][0]["text"]
    done = citizen.say("mình muốn hỏi về cấp lại giấy khai sinh bị mất")["replies"][0]["text"]
    assert "0912***678" in done
    assert not any("0912345678" in m["text"] or "0912 345 678" in m["text"] for m in citizen.history())

    lan = Console(running.url, "lan.nguyen")
    items = lan.tab("callback")
    assert items[0]["id"] == citizen.id and items[0]["callback"]["phone"] == "0912345678"
    assert items[0]["callback"]["question"] == "mình muốn hỏi về cấp lại giấy khai sinh bị mất"
    assert lan.get("/console/api/figures").json()["unanswered_callbacks"] == 1
    done = lan.post(f"/console/api/callbacks/{items[0]['callback']['id']}/done")
    assert done.status_code == 200 and done.json()["callback"]["phone"] == "0912***678"
    assert lan.tab("callback") == []
    with sqlite3.connect(running.config.app_db) as db:
        assert db.execute("SELECT phone FROM callbacks").fetchall() == [(None,)]   # clear number erased
    lan.close()


def test_a_question_instead_of_a_number_goes_to_the_bot(running):
    citizen = Citizen(running.url)
    citizen.say("cho mình gặp người thật")
    citizen.say(payload="/callback", title="Để lại số điện thoại")
    answer = citizen.say("thôi cho hỏi làm hộ chiếu ở đâu")
    assert answer["replies"][0]["text"].startswith("Bot trả lời")


def test_outside_office_hours_the_bot_says_when_volunteers_are_back(tmp_path, fake_rasa):
    import datetime as dt

    from bot import clock

    config = make_config(tmp_path, office_hours="T2-T6 07:30-11:30,13:30-17:00")
    fake_rasa.token = config.rasa_token
    add_accounts(config)
    sunday = dt.datetime(2026, 12, 6, 10, 0, tzinfo=clock.VN_TZ)
    with clock.frozen(sunday), LoopbackServer(fake_rasa.app, config.rasa_port), \
            AppServer(create_app(config), config.port) as server:
        Console(server.url, "lan.nguyen").close()              # online, but it is Sunday
        citizen = Citizen(server.url)
        offer = citizen.say("cho mình gặp người thật")["replies"][-1]
        assert "ngoài giờ làm việc" in offer["text"] and offer["buttons"][0]["payload"] == "/callback"
        with sqlite3.connect(config.app_db) as db:
            assert db.execute("SELECT COUNT(*) FROM handovers").fetchone()[0] == 0


# --- the queue moves ---------------------------------------------------------------------------------

def test_places_in_the_queue_are_updated_when_it_moves(running, lan):
    first, second = hand_over(running), hand_over(running)
    assert "vị trí số 2" in second.texts()[-1]
    assert [c["id"] for c in lan.tab("waiting")] == [first.id, second.id]
    lan.post(f"/console/api/conversations/{first.id}/claim")
    assert "vị trí số 1" in second.texts()[-1]


def test_an_unanswered_claim_goes_back_to_the_queue(tmp_path, fake_rasa):
    config = make_config(tmp_path, handover_claim_timeout_minutes=0.0)
    fake_rasa.token = config.rasa_token
    add_accounts(config)
    app = create_app(config)
    with LoopbackServer(fake_rasa.app, config.rasa_port), AppServer(app, config.port) as server:
        lan = Console(server.url, "lan.nguyen")
        citizen = hand_over(server)
        lan.post(f"/console/api/conversations/{citizen.id}/claim")
        app.state.desk.tick()
        assert [c["id"] for c in lan.tab("waiting")] == [citizen.id]
        assert lan.tab("mine") == []
        with sqlite3.connect(config.app_db) as db:
            why = db.execute("SELECT detail FROM handover_events WHERE kind = 'requeued'").fetchone()[0]
        assert '"timeout"' in why
        lan.close()


def test_the_same_question_twice_hands_over(running, lan):
    citizen = Citizen(running.url)
    citizen.say("thủ tục đăng ký kinh doanh online làm sao")
    answer = citizen.say("thủ tục đăng ký kinh doanh online làm sao")
    assert "vị trí số 1" in answer["replies"][-1]["text"]
    assert lan.tab("waiting")[0]["reason"] == "repeated"


def test_canned_replies_are_edited_by_supervisors_only(running, lan):
    codes = [c["code"] for c in lan.get("/console/api/canned").json()["canned"]]
    assert "chao" in codes
    assert lan.post("/console/api/canned", {"code": "giayto", "text": "x"}).status_code == 403
    binh = Console(running.url, "binh.le")
    saved = binh.post("/console/api/canned", {"code": "giayto", "text": "Bạn mang CCCD bản chính."})
    assert saved.status_code == 201
    assert {"code": "giayto", "text": "Bạn mang CCCD bản chính."} in lan.get("/console/api/canned").json()["canned"]
    deleted = binh.client.delete("/console/api/canned/giayto", headers={"X-CSRF-Token": binh.csrf})
    assert deleted.status_code == 200
    binh.close()


def test_presence_offline_returns_chats_and_nobody_online_means_call_back(running, lan):
    citizen = hand_over(running)
    lan.post(f"/console/api/conversations/{citizen.id}/claim")
    assert lan.post("/console/api/presence", {"status": "offline"}).json() == {"status": "offline"}
    assert lan.tab("mine") == []
    statuses = {v["username"]: v["status"] for v in lan.get("/console/api/presence").json()["volunteers"]}
    assert statuses["lan.nguyen"] == "offline"
    other = Citizen(running.url)
    assert "chưa có tư vấn viên nào trực tuyến" in other.say("cho mình gặp người thật")["replies"][-1]["text"]


def test_wait_estimate_uses_the_queue_and_the_volunteers_online():
    class Store:
        def recent_handling_seconds(self):
            return [600.0, 600.0]

        def online(self, since):
            return ["a", "b"]

        def now(self):
            import datetime as dt
            return dt.datetime.now(dt.timezone.utc)

    desk = desk_module.Desk.__new__(desk_module.Desk)
    desk.store, desk.presence_timeout = Store(), 90
    assert desk.wait_minutes(3) == 15     # 3 chats × 10 min / 2 volunteers
    assert desk.wait_minutes(1) == 5


def test_old_handovers_notes_callbacks_and_events_are_purged(tmp_path):
    import datetime as dt

    from bot.handover.store import HandoverStore
    from bot.store import MessageStore

    MessageStore(tmp_path / "bot.db")
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)]
    store = HandoverStore(tmp_path / "bot.db", clock=lambda: now[0])
    handover, _ = store.request("web-old", "web", "asked")
    store.claim("web-old", "lan.nguyen", TEAM)
    store.add_note("web-old", "lan.nguyen", "ghi chú", handover.id)
    store.end(handover.id, "closed", "lan.nguyen")
    store.add_callback("web-old", "web", "câu hỏi", "0912345678", None)
    now[0] = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    recent, _ = store.request("web-new", "web", "asked")
    assert store.purge(dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)) == 1
    assert store.latest_for("web-old") is None and store.notes("web-old") == []
    assert store.callbacks("open") == []
    assert [e["conversation_id"] for e in store.events()] == ["web-new"]
    assert store.open_for("web-new").id == recent.id


def test_a_number_or_a_date_typed_twice_is_not_a_repeated_question(running, lan):
    citizen = Citizen(running.url)
    for text in ("12/13/2020", "12/13/2020", "0912 345 678", "0912 345 678", "có", "có"):
        citizen.say(text)
    assert lan.tab("waiting") == []


def test_the_volunteer_actions_do_their_database_work_off_the_event_loop(tmp_path, fake_rasa, monkeypatch):
    """Claim, reply, reassign, hand back and close talk to Rasa (coroutines), but every store call
    runs in a worker thread: a slow disk never stalls the other citizens' turns."""
    import asyncio

    from bot.handover.store import HandoverStore
    from bot.store import MessageStore

    calls: list[tuple[str, bool]] = []

    def watched(cls, name):
        original = getattr(cls, name)

        def method(self, *args, **kwargs):
            calls.append((name, asyncio._get_running_loop() is not None))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, method)

    for name in ("claim", "assign", "end", "set_paused", "volunteer_replied", "open_for", "latest_for", "waiting"):
        watched(HandoverStore, name)
    watched(MessageStore, "add")
    config = make_config(tmp_path)
    fake_rasa.token = config.rasa_token
    add_accounts(config)
    with LoopbackServer(fake_rasa.app, config.rasa_port), AppServer(create_app(config), config.port) as server:
        lan, binh = Console(server.url, "lan.nguyen"), Console(server.url, "binh.le")
        first, second = hand_over(server), hand_over(server)
        calls.clear()
        assert lan.post(f"/console/api/conversations/{first.id}/claim").status_code == 200
        assert lan.post(f"/console/api/conversations/{first.id}/messages", {"text": "Chào bạn"}).status_code == 201
        assert lan.post(f"/console/api/conversations/{first.id}/release").status_code == 200
        assert binh.post(f"/console/api/conversations/{second.id}/assign", {"username": "minh.tran"}).status_code == 200
        assert binh.post(f"/console/api/conversations/{second.id}/close", {"reason": "xong"}).status_code == 200
        lan.close()
        binh.close()
    names = {name for name, _ in calls}
    assert {"claim", "assign", "end", "set_paused", "volunteer_replied", "add", "waiting"} <= names
    assert [name for name, on_loop in calls if on_loop] == []

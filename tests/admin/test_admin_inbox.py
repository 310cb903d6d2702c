"""The NLU inbox and the intents' examples, through the staff API (``bot.admin.inbox``, ``bot.learning``).

Conversations are written through the real stores: the app's message store, the handover store,
and Rasa's own SQL tracker store (user events carry our message id in their metadata, as the REST
channel stores them). Training data is written into a copy of ``nlu_data/`` in a temporary folder.
Every test runs on both engines (``admin_config``: SQLite files, or the app's data and Rasa's events
in one PostgreSQL database as with DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace

import pytest
import sqlalchemy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.loading import load_data

from bot import learning
from bot.accounts import AccountStore
from bot.dossiers.masking import mask_numbers
from bot.handover.store import HandoverStore
from bot.settings import ROOT
from bot.store import MessageStore
from bot.tracker_store import CachedSQLTrackerStore
from tests.admin.conftest import FAST, PASSWORD, USERS

CLARIFY_BUTTONS = [{"title": "Đăng ký xe máy", "payload": "/ask_papers{\"procedure\": \"dang-ky-xe\"}"},
                   {"title": "Không phải các thủ tục trên", "payload": "/none_of_these"},
                   {"title": "Gặp tư vấn viên", "payload": "/request_human"}]
ADMIN_ROUTES = [("GET", "/admin/api/inbox"), ("POST", "/admin/api/inbox/abc"), ("GET", "/admin/api/intents"),
                ("GET", "/admin/api/intents/greet"), ("POST", "/admin/api/examples"),
                ("PUT", "/admin/api/examples/abc"), ("DELETE", "/admin/api/examples/abc")]


class Chats:
    """Writes conversations the way the bot app and Rasa do: the app's messages (numbers masked)
    and Rasa's tracker events (the text as typed, with our message id)."""

    def __init__(self, config):
        self.messages = MessageStore(config.app_database)
        self.handovers = HandoverStore(config.app_database)
        domain = Domain.load(str(ROOT / "domain.yml"))
        if config.database_url:
            url = sqlalchemy.engine.make_url(config.database_url)
            self.tracker = CachedSQLTrackerStore(domain=domain, dialect="postgresql", host=url.host, port=url.port,
                                                 db=url.database, username=url.username)
        else:
            self.tracker = CachedSQLTrackerStore(domain=domain, dialect="sqlite", db=str(config.tracker_db))

    def say(self, conversation_id: str, text: str, intent: str, confidence: float = 0.95, best: str | None = None,
            procedure: str | None = None, payload: str | None = None, form: bool | None = None) -> int:
        message_id = self.messages.add(conversation_id, "in", mask_numbers(text), payload=payload)
        ranking = [{"name": intent, "confidence": confidence}] + ([{"name": best, "confidence": 0.3}] if best else [])
        parse = {"intent": ranking[0], "intent_ranking": ranking, "entities": [],
                 "procedure_candidates": [{"id": procedure}] if procedure else []}
        tracker = asyncio.run(self.tracker.retrieve(conversation_id)) or DialogueStateTracker(conversation_id, [])
        if form is not None:   # the dossier actions open and close the form with this slot
            tracker.update(SlotSet("dossier_active", form))
        tracker.update(UserUttered(payload or text, ranking[0], [], parse_data=parse,
                                   metadata={"channel": "web", "message_id": message_id}))
        asyncio.run(self.tracker.save(tracker))
        return message_id

    def answer(self, conversation_id: str, text: str, buttons: list | None = None) -> int:
        return self.messages.add(conversation_id, "out", text, buttons=buttons)


@pytest.fixture
def admin_config(admin_config, app_database):
    """``admin_config`` on each engine: as it is (SQLite files, ``app_database`` is its ``bot.db``),
    or with DATABASE_URL on a fresh PostgreSQL database, the accounts added there."""
    if "://" not in str(app_database):
        assert app_database == admin_config.app_db
        return admin_config
    config = replace(admin_config, database_url=str(app_database))
    accounts = AccountStore.from_settings(config, hasher=FAST)
    for role, username in USERS.items():
        accounts.add(username, PASSWORD, role, team="phuong-ben-thanh" if role in ("volunteer", "supervisor") else None)
    return config


@pytest.fixture
def chats(admin_config):
    chats = Chats(admin_config)
    yield chats
    chats.tracker.engine.dispose()   # the test server allows 50 connections


@pytest.fixture
def nlu_dir(tmp_path):
    target = tmp_path / "nlu_data"
    shutil.copytree(ROOT / "nlu_data", target)
    return target


@pytest.fixture
def staff(login, nlu_dir):
    browser = login("staff")
    browser.client.app.state.nlu_data_dir = nlu_dir
    return browser


def items(browser) -> list[dict]:
    response = browser.get("/admin/api/inbox")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def fallback(chats, conversation_id, text, best="ask_where"):
    chats.say(conversation_id, text, "nlu_fallback", 0.4, best=best)
    chats.answer(conversation_id, "Xin lỗi, mình chưa hiểu ý bạn.")


def test_every_kind_of_miss_is_in_the_inbox_grouped_most_frequent_first(chats, staff):
    for n, text in enumerate(["Làm thẻ BHYT ở đâu?", "lam the bhyt o dau", "làm thẻ  bhyt ở đâu"]):
        fallback(chats, f"web-f{n}", text)
    for n in range(2):   # the bot asks which procedure (candidates as buttons)
        chats.say(f"web-c{n}", "đăng ký xe", "ask_papers", 0.9, procedure="dang-ky-xe")
        chats.answer(f"web-c{n}", "Có nhiều thủ tục gần giống, bạn hỏi về thủ tục nào?", CLARIFY_BUTTONS)
    chats.say("web-n", "giấy tờ đất đai", "ask_papers", 0.8)
    chats.answer("web-n", "Giấy tờ làm sổ đỏ: …")
    chats.say("web-n", "không phải cái đó", "none_of_these", 0.9)
    chats.say("web-h", "con tôi bị sai tên trong giấy khai sinh", "ask_procedure", 0.7)
    chats.answer("web-h", "Mình hiểu bạn muốn biết …")
    chats.handovers.request("web-h", "web", "not_understood")
    chats.say("web-l", "xin giấy phép bán hàng rong", "ask_procedure", 0.45)
    chats.say("web-ok", "làm hộ chiếu cần giấy tờ gì", "ask_papers", 0.97)   # understood: not in the inbox
    chats.say("web-form", "Nguyễn Văn Bình", "inform", 0.3, form=True)        # a form answer: not either
    chats.say("web-form", "lệ phí đổi bằng lái xe quốc tế", "nlu_fallback", 0.4, form=False)
    chats.answer("web-ok", "Giấy tờ làm hộ chiếu: …")

    found = items(staff)
    assert [(i["count"], i["reasons"]) for i in found[:2]] == [(3, ["fallback"]), (2, ["clarify"])]
    assert found[0]["text"] == "làm thẻ bhyt ở đâu" and found[0]["suggested_intent"] == "ask_where"
    assert found[1]["suggested_procedure"] == "dang-ky-xe"
    rest = {i["text"]: i["reasons"] for i in found[2:]}
    assert rest == {"giấy tờ đất đai": ["none_of_these"], "con tôi bị sai tên trong giấy khai sinh": ["handover"],
                    "xin giấy phép bán hàng rong": ["low_confidence"], "lệ phí đổi bằng lái xe quốc tế": ["fallback"]}
    assert all(i["count"] == 1 and i["last_seen"] and len(i["id"]) == 16 for i in found[2:])


def test_pressing_none_of_these_after_a_clarifying_question_counts_both(chats, staff):
    chats.say("web-p", "làm giấy tờ xe", "ask_papers", 0.9, procedure="dang-ky-xe")
    chats.answer("web-p", "Có nhiều thủ tục gần giống, bạn hỏi về thủ tục nào?", CLARIFY_BUTTONS)
    chats.say("web-p", "Không phải các thủ tục trên", "none_of_these", 1.0, payload="/none_of_these")
    assert [(i["text"], i["reasons"]) for i in items(staff)] == [("làm giấy tờ xe", ["clarify", "none_of_these"])]


def test_assigning_writes_a_rasa_example_with_placeholders_and_the_procedure_entity(chats, staff, nlu_dir):
    text = "Tôi là Trần Thị Bình, sđt 0912 345 678, làm hộ chiếu cho con ở 12 đường Lê Lợi thì cần gì"
    fallback(chats, "web-a", text, best="ask_papers")
    [item] = items(staff)
    assert "0912" not in item["text"] and "Bình" not in item["text"] and "Lê Lợi" not in item["text"]

    response = staff.post(f"/admin/api/inbox/{item['id']}", {"intent": "ask_papers", "procedure": "ho-chieu"})
    assert response.status_code == 201, response.text
    example = response.json()["example"]
    assert example["file"] == "nlu/learned/procedures.yml" and "[hộ chiếu](procedure)" in example["text"]

    learned = load_data(str(nlu_dir / "nlu" / "learned" / "procedures.yml"))
    [message] = learned.intent_examples
    assert message.get("intent") == "ask_papers"
    assert message.get("text") == (f"Tôi là {learning.NAME}, sđt {learning.PHONE}, làm hộ chiếu cho con ở "
                                   f"{learning.ADDRESS} thì cần gì")
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [("procedure", "hộ chiếu")]
    assert load_data(str(nlu_dir / "nlu")).intent_examples   # the whole folder still loads
    assert not (ROOT / "nlu_data" / "nlu" / "learned").exists()   # the repository's data untouched
    assert items(staff) == []                                       # annotated: gone from the inbox
    again = "tôi là Trần Thị Bình, SĐT 0987 654 321, làm hộ chiếu cho con ở 12 đường Lê Lợi thì cần gì"
    fallback(chats, "web-b", again)
    assert items(staff) == []                                       # the same question again stays out


def test_a_procedure_the_text_does_not_name_is_not_an_entity(chats, staff, nlu_dir):
    fallback(chats, "web-x", "con mới sinh thì làm giấy gì đầu tiên", best="ask_papers")
    [item] = items(staff)
    response = staff.post(f"/admin/api/inbox/{item['id']}", {"intent": "ask_papers", "procedure": "khai-sinh"})
    assert response.status_code == 201, response.text
    assert response.json()["example"]["text"] == "con mới sinh thì làm giấy gì đầu tiên"
    [message] = load_data(str(nlu_dir / "nlu" / "learned" / "procedures.yml")).intent_examples
    assert message.get("entities") in (None, [])


def test_out_of_scope_marking(chats, staff, nlu_dir):
    fallback(chats, "web-o", "giá vàng hôm nay bao nhiêu", best="ask_fee")
    [item] = items(staff)
    response = staff.post(f"/admin/api/inbox/{item['id']}", {"out_of_scope": True})
    assert response.status_code == 201, response.text
    assert response.json()["item"]["intent"] == "out_of_scope"
    [message] = load_data(str(nlu_dir / "nlu" / "learned" / "chitchat.yml")).intent_examples
    assert (message.get("intent"), message.get("text")) == ("out_of_scope", "giá vàng hôm nay bao nhiêu")
    assert items(staff) == []


def test_unknown_intent_or_procedure_is_refused_by_name(chats, staff, nlu_dir):
    fallback(chats, "web-u", "hỏi linh tinh")
    [item] = items(staff)
    bad_intent = staff.post(f"/admin/api/inbox/{item['id']}", {"intent": "ask_weather", "procedure": None})
    bad_procedure = staff.post(f"/admin/api/inbox/{item['id']}", {"intent": "ask_fee", "procedure": "lam-phep-thuat"})
    assert bad_intent.status_code == 400 and "ask_weather" in bad_intent.json()["error"]
    assert bad_procedure.status_code == 400 and "lam-phep-thuat" in bad_procedure.json()["error"]
    assert staff.post("/admin/api/inbox/0000000000000000", {"intent": "ask_fee", "procedure": None}).status_code == 404
    assert not (nlu_dir / "nlu" / "learned").exists() and len(items(staff)) == 1


@pytest.mark.parametrize("role", ["volunteer", "supervisor"])
def test_volunteers_and_supervisors_get_403(login, role, nlu_dir):
    browser = login(role)
    browser.client.app.state.nlu_data_dir = nlu_dir
    for method, path in ADMIN_ROUTES:
        response = browser.send(method, path, {"text": "xin chào", "intent": "greet"})
        assert response.status_code == 403, (method, path)
    assert not (nlu_dir / "nlu" / "learned").exists()


def test_a_volunteer_flag_lands_in_the_inbox(chats, login, staff):
    chats.handovers.request("web-v", "web", "asked")    # in the console's queue: every volunteer sees it
    chats.say("web-v", "lệ phí trước bạ xe máy cũ bao nhiêu", "ask_fee", 0.9)
    wrong = chats.answer("web-v", "Lệ phí làm hộ chiếu: 200.000 đồng.")
    own = chats.messages.add("web-v", "out", "Chào bạn, mình là tư vấn viên.", author="lan.tnv")
    volunteer = login("volunteer")
    assert items(staff) == []
    assert volunteer.post("/console/api/conversations/web-v/flag", {"message_id": own}).status_code == 404
    assert volunteer.post("/console/api/conversations/web-v/flag", {"message_id": "x"}).status_code == 400
    assert volunteer.post("/console/api/conversations/web-v/flag", {"message_id": wrong}, csrf=False).status_code == 403
    response = volunteer.post("/console/api/conversations/web-v/flag", {"message_id": wrong})
    assert response.status_code == 201, response.text
    assert volunteer.post("/console/api/conversations/web-v/flag", {"message_id": wrong}).status_code == 201
    assert [(i["text"], i["count"], i["reasons"]) for i in items(staff)] == [
        ("lệ phí trước bạ xe máy cũ bao nhiêu", 1, ["flagged"])]


def test_intents_list_counts_warnings_and_conflicts(staff):
    response = staff.get("/admin/api/intents")
    assert response.status_code == 200, response.text
    by_name = {i["name"]: i for i in response.json()["intents"]}
    assert by_name["ask_papers"]["count"] >= 20 and not by_name["ask_papers"]["warning"]
    assert by_name["ask_papers"]["topic"] == "procedures"
    assert set(by_name) >= {"ask_papers", "out_of_scope", "none_of_these"}
    assert not any(c for i in by_name.values() for c in i["conflicts"] if "ask_fee" in c["intents"]
                   and "ask_papers" in c["intents"] and c["text"] == "hộ chiếu cần giấy tờ gì")

    added = staff.post("/admin/api/examples", {"text": "Hộ chiếu cần giấy tờ gì?", "intent": "ask_fee"})
    assert added.status_code == 201, added.text
    listing = staff.get("/admin/api/intents").json()
    fee = next(i for i in listing["intents"] if i["name"] == "ask_fee")
    [conflict] = [c for c in fee["conflicts"] if "ask_papers" in c["intents"]]
    assert conflict["intents"] == ["ask_fee", "ask_papers"] and len(conflict["examples"]) >= 2
    assert conflict in listing["issues"]


def test_few_examples_are_warned_and_duplicates_counted(staff, nlu_dir):
    (nlu_dir / "nlu" / "tiny.yml").write_text('version: "3.1"\nnlu:\n- intent: thank\n  examples: |\n'
                                              "    - cám ơn nha\n    - Cám ơn  nha!\n", encoding="utf-8")
    (nlu_dir / "nlu" / "chitchat.yml").unlink()
    thank = next(i for i in staff.get("/admin/api/intents").json()["intents"] if i["name"] == "thank")
    assert (thank["count"], thank["warning"], thank["duplicates"], thank["conflicts"]) == (2, True, 1, [])


def test_examples_are_added_edited_moved_and_deleted(staff, nlu_dir):
    chitchat = nlu_dir / "nlu" / "chitchat.yml"
    comment = "# Greetings, thanks, goodbyes, what the assistant can do, and things it does not handle."
    greet = staff.get("/admin/api/intents/greet").json()["examples"]
    first = greet[0]
    assert first["text"] == "xin chào" and first["file"] == "nlu/chitchat.yml" and not first["learned"]

    edited = staff.put(f"/admin/api/examples/{first['id']}", {"text": "xin chào ạ"})
    assert edited.status_code == 200, edited.text
    assert comment in chitchat.read_text(encoding="utf-8")      # hand-written file edited in place
    texts = [m.get("text") for m in load_data(str(chitchat)).intent_examples if m.get("intent") == "greet"]
    assert "xin chào ạ" in texts and "xin chào" not in texts

    added = staff.post("/admin/api/examples", {"text": "em chào cán bộ, sđt em 0912345678", "intent": "greet"})
    assert added.status_code == 201, added.text
    example = added.json()["example"]
    assert example["text"] == f"em chào cán bộ, sđt em {learning.PHONE}" and example["learned"]

    moved = staff.put(f"/admin/api/examples/{example['id']}", {"intent": "thank"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["example"]["intent"] == "thank"
    learned = load_data(str(nlu_dir / "nlu" / "learned" / "chitchat.yml")).intent_examples
    assert [(m.get("intent"), m.get("text")) for m in learned] == [("thank", example["text"])]

    deleted = staff.send("DELETE", f"/admin/api/examples/{moved.json()['example']['id']}")
    assert deleted.status_code == 200, deleted.text
    assert load_data(str(nlu_dir / "nlu" / "learned" / "chitchat.yml")).intent_examples == []
    assert staff.send("DELETE", f"/admin/api/examples/{example['id']}").status_code == 404
    assert staff.post("/admin/api/examples", {"text": "xin chào", "intent": "chao_hoi"}).status_code == 400
    assert staff.post("/admin/api/examples", {"text": "[hà nội](city) ở đâu", "intent": "ask_where"}).status_code == 400
    assert staff.post("/admin/api/examples", {"intent": "greet"}).status_code == 400


def test_learned_files_are_valid_for_rasa_after_many_writes(staff, nlu_dir):
    for who in ("cho bé", "cho mẹ", "cho ông nội", "người già", "sinh viên"):
        response = staff.post("/admin/api/examples", {"text": f"lệ phí làm [hộ chiếu](procedure) {who}",
                                                      "intent": "ask_fee"})
        assert response.status_code == 201, response.text
    data = load_data(str(nlu_dir / "nlu" / "learned" / "procedures.yml"))
    assert len(data.intent_examples) == 5 and all(m.get("entities") for m in data.intent_examples)


def test_an_example_already_there_is_not_added_twice(staff, nlu_dir):
    response = staff.post("/admin/api/examples", {"text": "Xin chào!", "intent": "greet"})
    assert response.status_code == 201, response.text
    assert response.json()["example"]["file"] == "nlu/chitchat.yml"
    assert not (nlu_dir / "nlu" / "learned").exists()

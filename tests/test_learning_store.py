"""The NLU inbox's own tables (``bot.learning.inbox.LearningStore``: volunteers' flags, staff's
annotations) and ``collect``'s read of the app's messages, on both engines (``app_database``:
a SQLite file, then a PostgreSQL database, as with DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from bot import learning
from bot.learning.inbox import LearningStore, collect
from bot.store import MessageStore

CLARIFY = [{"title": "Đăng ký xe máy", "payload": "/ask_papers"},
           {"title": "Không phải các thủ tục trên", "payload": "/none_of_these"}]


def test_a_flag_is_on_a_bot_answer_of_that_conversation_and_counted_once(app_database):
    messages, store = MessageStore(app_database), LearningStore(app_database)
    question = messages.add("web-a", "in", "làm thẻ bhyt ở đâu")
    answer = messages.add("web-a", "out", "Bạn đến UBND phường.")
    by_volunteer = messages.add("web-a", "out", "Chào bạn, mình là Lan.", author="lan.tnv")
    assert store.flag("web-a", answer, "lan.tnv")
    assert store.flag("web-a", answer, "minh.tnv")           # twice is one flag, the first one's
    assert not store.flag("web-a", question, "lan.tnv")      # a citizen's message
    assert not store.flag("web-a", by_volunteer, "lan.tnv")  # a volunteer's answer
    assert not store.flag("web-b", answer, "lan.tnv")        # another conversation
    assert not store.flag("web-a", 10_000, "lan.tnv")
    flags = store.flags()
    assert [(f["conversation_id"], f["message_id"], f["flagged_by"]) for f in flags] == [("web-a", answer, "lan.tnv")]
    assert isinstance(flags[0]["id"], int)


def test_two_volunteers_flagging_at_once_make_one_flag(app_database):
    messages, store = MessageStore(app_database), LearningStore(app_database)
    answers = [messages.add(f"web-{n}", "out", "Bạn đến UBND phường.") for n in range(4)]
    start = threading.Barrier(8)

    def flag(n):
        start.wait(timeout=30)
        return store.flag(f"web-{n % 4}", answers[n % 4], f"tnv.{n}")

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(flag, range(8)))
    flags = store.flags()
    assert sorted(f["message_id"] for f in flags) == answers
    assert [f["id"] for f in flags] == sorted({f["id"] for f in flags})


def test_an_annotation_is_replaced_not_doubled(app_database):
    store = LearningStore(app_database)
    assert store.annotated() == set()
    store.annotate("lam the bhyt o dau", "ask_where", None, "làm thẻ bhyt ở đâu", "nlu_data/a.yml", "thu.canbo")
    store.annotate("lam the bhyt o dau", "ask_papers", "bhyt", "làm thẻ [bhyt](bhyt)", "nlu_data/b.yml", "quan.tri")
    store.annotate("xin giay phep", "out_of_scope", None, None, None, "thu.canbo")
    assert store.annotated() == {"lam the bhyt o dau", "xin giay phep"}
    rows = store.db.all("SELECT * FROM learning_annotations WHERE key = ?", ("lam the bhyt o dau",))
    assert [(r["intent"], r["procedure"], r["file"], r["annotated_by"]) for r in rows] == [
        ("ask_papers", "bhyt", "nlu_data/b.yml", "quan.tri")]


def test_collect_reads_the_messages_handovers_and_flags_of_the_app_database(app_database, tmp_path):
    messages, store = MessageStore(app_database), LearningStore(app_database)
    messages.add("web-c", "in", "đăng ký xe")                                  # the bot asks which procedure
    messages.add("web-c", "out", "Bạn hỏi về thủ tục nào?", buttons=CLARIFY)
    flagged_question = messages.add("web-f", "in", "lệ phí làm hộ chiếu")      # a volunteer flags the answer
    store.flag("web-f", messages.add("web-f", "out", "Miễn phí."), "lan.tnv")
    handed_over = messages.add("web-h", "in", "con tôi bị sai tên trong giấy khai sinh")
    messages.add("web-h", "out", "Mình hiểu bạn muốn biết …")
    store.db.execute("INSERT INTO handovers (conversation_id, channel, state, reason, requested_at)"
                     " VALUES (?, ?, 'waiting', 'asked', ?)",
                     ("web-h", "web", dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")))
    messages.add("web-ok", "in", "cảm ơn")
    messages.add("web-ok", "out", "Không có gì.")
    no_tracker = tmp_path / "rasa_tracker.db"   # no tracker store yet: what the app's data says is enough

    found = {s.conversation_id: s for s in collect(store.db, no_tracker)}
    assert {c: found[c].reasons for c in found} == {"web-c": {"clarify"}, "web-f": {"flagged"},
                                                    "web-h": {"handover"}}
    assert found["web-f"].message_id == flagged_question and found["web-h"].message_id == handed_over
    same = {s.conversation_id: (s.message_id, s.reasons) for s in collect(app_database, no_tracker)}
    assert same == {c: (s.message_id, s.reasons) for c, s in found.items()}
    assert [i.count for i in learning.inbox(list(found.values()), {"dang ky xe"})] == [1, 1]
    assert not no_tracker.exists()


def test_collect_on_a_fresh_install_finds_nothing_and_creates_nothing(tmp_path):
    assert collect(tmp_path / "bot.db", tmp_path / "rasa_tracker.db") == []
    assert list(tmp_path.iterdir()) == []

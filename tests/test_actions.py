"""Actions' .run() with the real domain, the real catalogue and rasa_sdk trackers."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.procedures import ActionAnswerProcedure, ActionClarify, ActionShowMenu
from tests.conftest import make_tracker


def procedure_entity(value, text="x"):
    return {"entity": "procedure", "value": value, "text": text, "start": 0, "end": len(text)}


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return dispatcher.messages, events


async def test_papers_for_passport_list_the_real_papers_with_source(domain):
    tracker = make_tracker("ask_papers", "làm hộ chiếu cần giấy tờ gì", [procedure_entity("ho-chieu", "hộ chiếu")])
    messages, events = await run(ActionAnswerProcedure(), tracker, domain)
    text = messages[0]["text"]
    assert "TK01" in text and "4 cm x 6 cm" in text and "TK01a" in text
    assert "Cập nhật ngày" in text and "49/2019/QH14" in text
    assert {"event": "slot", "name": "procedure", "value": "ho-chieu", "timestamp": None} in events
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert "Lệ phí" in titles and "Giấy tờ cần chuẩn bị" not in titles


async def test_follow_up_uses_the_procedure_in_the_slot(domain):
    tracker = make_tracker("ask_fee", "thế còn lệ phí?", slots={"procedure": "ho-chieu"})
    messages, _ = await run(ActionAnswerProcedure(), tracker, domain)
    assert "200.000" in messages[0]["text"]


async def test_new_procedure_replaces_the_slot(domain):
    tracker = make_tracker("ask_fee", "còn tạm trú?", [procedure_entity("tam-tru")], slots={"procedure": "ho-chieu"})
    messages, events = await run(ActionAnswerProcedure(), tracker, domain)
    assert "15.000" in messages[0]["text"] and "200.000" not in messages[0]["text"]
    assert events[0]["value"] == "tam-tru"


async def test_where_names_the_commune_police_and_ways_to_submit(domain):
    tracker = make_tracker("ask_where", "đăng ký tạm trú ở đâu", [procedure_entity("tam-tru")])
    text = (await run(ActionAnswerProcedure(), tracker, domain))[0][0]["text"]
    assert "Công an cấp xã" in text and "Trực tiếp" in text


async def test_unverified_values_are_flagged(domain):
    tracker = make_tracker("ask_fee", "đổi bằng lái bao nhiêu tiền", [procedure_entity("doi-gplx")])
    text = (await run(ActionAnswerProcedure(), tracker, domain))[0][0]["text"]
    assert "(chưa xác minh)" in text and "⚠️" in text


async def test_no_procedure_known_asks_which_with_buttons(domain):
    tracker = make_tracker("ask_papers", "cần giấy tờ gì")
    messages, events = await run(ActionAnswerProcedure(), tracker, domain)
    assert messages[0]["text"] == "Bạn hỏi về thủ tục nào?"
    *procedures, none, person = messages[0]["buttons"]
    assert procedures and all(b["payload"].startswith("/ask_papers{") for b in procedures)
    assert none == {"title": "Không phải các thủ tục trên", "payload": "/none_of_these"}
    assert person == {"title": "Gặp tư vấn viên", "payload": "/request_human"}   # when none is right
    assert events == []


async def test_two_procedures_named_asks_which(domain):
    tracker = make_tracker("ask_fee", "hộ chiếu và căn cước",
                           [procedure_entity("ho-chieu"), procedure_entity("can-cuoc")])
    messages, _ = await run(ActionAnswerProcedure(), tracker, domain)
    assert "thủ tục nào" in messages[0]["text"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ['/ask_fee{"procedure":"ho-chieu"}',
                                                              '/ask_fee{"procedure":"can-cuoc"}',
                                                              "/none_of_these", "/request_human"]


async def test_procedure_we_do_not_have_is_said_plainly(domain):
    tracker = make_tracker("ask_papers", "thủ tục đăng ký nuôi chó cảnh cần gì", nlu=True)
    messages, events = await run(ActionAnswerProcedure(), tracker, domain)
    text = messages[0]["text"]
    assert "giấy tờ cần chuẩn bị" in text and "chưa tìm thấy thủ tục nào khớp" in text and "nuôi chó cảnh" in text
    assert "Giấy tờ cần chuẩn bị —" not in text  # no facts of any procedure
    assert messages[0]["buttons"][-1] == {"title": "Gặp tư vấn viên", "payload": "/request_human"}
    assert events == []


@pytest.mark.parametrize("intent, response", [("greet", "utter_greet"), ("bot_capabilities", "utter_capabilities"),
                                              ("out_of_scope", "utter_out_of_scope")])
async def test_menu_asks_what_you_need_to_do(domain, intent, response):
    messages, _ = await run(ActionShowMenu(), make_tracker(intent), domain)
    assert messages[0]["response"] == response
    assert response in domain["responses"]
    assert messages[1]["text"] == "Bạn cần làm thủ tục gì?"
    assert messages[1]["buttons"][0] == {"title": "Làm hộ chiếu", "payload": '/ask_procedure{"procedure":"ho-chieu"}'}


async def test_clarify_offers_likely_procedures_from_search(domain):
    tracker = make_tracker("nlu_fallback", "giấy khai sinh cho em bé", confidence=0.3,
                           ranking=[{"name": "nlu_fallback", "confidence": 0.4}, {"name": "ask_papers", "confidence": 0.3}])
    messages, _ = await run(ActionClarify(), tracker, domain)
    *procedures, none, person = messages[0]["buttons"]
    assert procedures and procedures[0]["payload"] == '/ask_papers{"procedure":"khai-sinh"}'
    assert len(procedures) <= 4 and none["payload"] == "/none_of_these" and person["payload"] == "/request_human"


async def test_clarify_with_a_procedure_asks_what_about_it(domain):
    tracker = make_tracker("nlu_fallback", "hộ chiếu", [procedure_entity("ho-chieu")], confidence=0.3)
    messages, _ = await run(ActionClarify(), tracker, domain)
    assert messages[0]["text"].startswith("Bạn muốn hỏi gì về")
    assert len(messages[0]["buttons"]) == 6


async def test_follow_up_that_points_elsewhere_asks_instead_of_answering(domain):
    tracker = make_tracker("ask_papers", "đăng ký xe máy cần gì", slots={"procedure": "can-cuoc"}, nlu=True)
    messages, events = await run(ActionAnswerProcedure(), tracker, domain)
    assert messages[0]["text"].endswith("bạn hỏi về thủ tục nào?")
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert '/ask_papers{"procedure":"can-cuoc"}' not in payloads and "/none_of_these" in payloads
    assert all("xe" in b["title"].lower() for b in messages[0]["buttons"][:-2])
    assert events == []


@pytest.mark.parametrize("text", ["thế còn lệ phí?", "mất bao lâu thì có", "ảnh 4x6 phải nền trắng à"])
async def test_plain_follow_ups_still_answer_for_the_slot(domain, text):
    tracker = make_tracker("ask_procedure", text, slots={"procedure": "ho-chieu"})
    messages, _ = await run(ActionAnswerProcedure(), tracker, domain)
    assert "hộ chiếu" in messages[0]["text"].lower() and not messages[0]["text"].startswith("Bạn đang hỏi")

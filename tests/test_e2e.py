"""End to end: all three processes running, a citizen chats over HTTP."""

from __future__ import annotations

import httpx
import pytest

from bot.conversations import BUSY
from tests.webchat import new_conversation

pytestmark = pytest.mark.stack


class Chat:
    """A citizen on the web chat API: a conversation of their own (``name`` only labels the test)."""

    def __init__(self, base_url: str, name: str = ""):
        self.name = name
        self.client = httpx.Client(base_url=base_url, timeout=60)
        self.conversation_id, self.headers = new_conversation(self.client)

    def say(self, text: str) -> list[dict]:
        response = self.client.post("/api/messages", json={"conversation_id": self.conversation_id, "text": text},
                                    headers=self.headers)
        assert response.status_code == 200
        return response.json()["replies"]

    def press(self, button: dict) -> list[dict]:
        body = {"conversation_id": self.conversation_id, "payload": button["payload"], "title": button["title"]}
        return self.client.post("/api/messages", json=body, headers=self.headers).json()["replies"]

    def history(self) -> list[dict]:
        response = self.client.get(f"/api/conversations/{self.conversation_id}/messages", headers=self.headers)
        assert response.status_code == 200
        return response.json()["messages"]


def text_of(replies: list[dict]) -> str:
    return "\n".join(r["text"] for r in replies)


def buttons_of(replies: list[dict]) -> list[dict]:
    return [b for r in replies for b in r["buttons"]]


def test_papers_then_follow_up_fee_for_the_same_procedure(stack):
    chat = Chat(stack.base_url, "e2e-passport")
    replies = chat.say("lam ho chieu can giay to gi")
    assert len(replies) == 1, "an answer with blank lines must stay one message"
    papers = text_of(replies)
    assert "TK01" in papers and "4" in papers and "Cập nhật ngày" in papers
    fee = text_of(chat.say("thế còn lệ phí?"))
    assert "hộ chiếu" in fee.lower() and "200.000" in fee


def test_where_for_temporary_residence_in_teencode(stack):
    answer = text_of(Chat(stack.base_url, "e2e-tamtru").say("đki tạm trú ở đâu v"))
    assert "Công an cấp xã" in answer
    assert "Trực tiếp" in answer and "trực tuyến" in answer.lower()


def test_not_knowing_where_to_start_shows_procedure_buttons(stack):
    replies = Chat(stack.base_url, "e2e-start").say("tôi cần làm thủ tục nhưng không biết bắt đầu từ đâu")
    assert "Bạn cần làm thủ tục gì?" in text_of(replies)
    titles = [b["title"] for b in buttons_of(replies)]
    assert "Làm hộ chiếu" in titles and len(titles) >= 4


def test_button_press_answers_for_its_procedure(stack):
    chat = Chat(stack.base_url, "e2e-button")
    menu = buttons_of(chat.say("xin chào"))
    passport = next(b for b in menu if b["title"] == "Làm hộ chiếu")
    overview = chat.press(passport)
    assert "hộ chiếu" in text_of(overview).lower()
    fee_button = next(b for b in buttons_of(overview) if b["title"] == "Lệ phí")
    assert "200.000" in text_of(chat.press(fee_button))


def test_unclear_message_gets_a_question_with_buttons_not_an_answer(stack):
    replies = Chat(stack.base_url, "e2e-unclear").say("giấy tờ")
    assert buttons_of(replies), text_of(replies)
    assert "?" in text_of(replies) or ":" in text_of(replies)


@pytest.mark.parametrize("text", ["", "😀🙏", "<script>alert(1)</script>", "x" * 10000,
                                  "how to get a passport in Vietnam?", "đăng ký xe máy cần gì"])
def test_bad_input_gets_polite_vietnamese_and_the_bot_keeps_working(stack, text):
    chat = Chat(stack.base_url, "e2e-bad")
    replies = chat.say(text)
    assert replies and all(r["text"] for r in replies)
    assert "Traceback" not in text_of(replies)
    assert "TK01" in text_of(chat.say("làm hộ chiếu cần giấy tờ gì"))


def test_action_server_down_answers_busy_and_keeps_the_message(stack):
    chat = Chat(stack.base_url, "e2e-down")
    stack.stop(("actions",))
    try:
        assert BUSY in text_of(chat.say("lệ phí làm căn cước bao nhiêu"))
    finally:
        stack.start(("actions",))
    history = chat.history()
    assert history[0]["text"] == "lệ phí làm căn cước bao nhiêu"
    assert "50.000" in text_of(chat.say("lệ phí làm căn cước bao nhiêu"))

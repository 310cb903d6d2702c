"""End to end: a citizen fills a draft dossier over HTTP, with a restart of Rasa and the
action server in the middle, downloads the prefilled PDF and checks the status."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from pypdf import PdfReader

from bot.benchmark import SAMPLE_ANSWERS as ANSWERS
from bot.benchmark import sample_reply
from bot.dossiers.codes import find_code
from tests.test_e2e import Chat, text_of

pytestmark = pytest.mark.stack


def current_field(stack, conversation_id):
    from bot.dossiers import DossierStore

    draft = DossierStore(stack.settings.app_db).load_draft(conversation_id)
    return draft.current_field if draft else None


def test_form_survives_a_restart_and_ends_with_a_pdf(stack):
    chat = Chat(stack.base_url, "e2e-dossier")
    intro = text_of(chat.say("tôi muốn làm hộ chiếu"))
    assert "hủy" in intro and current_field(stack, chat.conversation_id) == "birth_date"
    assert "không hợp lệ" in text_of(chat.say("31/2/1990")) or "nhập lại" in text_of(chat.say("31/2/1990"))
    chat.say(ANSWERS["birth_date"])
    chat.say(ANSWERS["full_name"])

    stack.restart("actions")
    stack.restart("rasa")

    for _ in range(40):
        field = current_field(stack, chat.conversation_id)
        if field == "__confirm__":
            break
        chat.say(sample_reply(field))
    assert current_field(stack, chat.conversation_id) == "__confirm__"
    done = text_of(chat.press({"title": "Xác nhận", "payload": "/affirm"}))
    code = find_code(done)[0]
    link = re.search(r"https?://\S+/dossiers/pdf/\S+", done).group(0)
    path = link.split("/dossiers/", 1)[1]
    pdf = httpx.get(f"{stack.base_url}/dossiers/{path}", timeout=30)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Nguyễn Thị Hồng Nhung" in text and "TK01" in text

    status = text_of(chat.say(f"hồ sơ {code} đến đâu rồi?"))
    assert code in status and "Trạng thái" in status


def test_no_personal_data_in_the_logs(stack):
    """Runs after the form test (same stack): none of the three processes logged the ID or phone."""
    logs = "".join(p.read_text(errors="replace") for p in (stack.settings.data_dir / "logs").glob("*.log"))
    assert logs, "the processes write logs"
    for secret in (ANSWERS["personal_id"], "0912345678", ANSWERS["phone"], "Hồng Nhung"):
        assert secret not in logs

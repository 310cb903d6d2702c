"""The draft-dossier dialogue through the actions' .run(), with a real SQLite store."""

from __future__ import annotations

import re

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import dossiers
from actions.dossiers import ActionCheckStatus, ActionDossierStep, ActionStartDossier
from bot.benchmark import SAMPLE_ANSWERS, sample_reply
from bot.dossiers import DossierStore
from bot.dossiers.codes import ALPHABET, LETTERS
from tests.conftest import make_tracker

ANSWERS = SAMPLE_ANSWERS
CODE = rf"HS-\d{{4}}-[{LETTERS}][{ALPHABET}]{{4}}[{LETTERS}]"


@pytest.fixture(autouse=True)
def data_dir(dossier_data):
    return dossier_data


class Citizen:
    def __init__(self, domain, conversation_id="citizen-1"):
        self.domain = domain
        self.conversation_id = conversation_id
        self.slots = {}

    async def say(self, action, text, intent="inform", entities=None, confidence=0.95):
        tracker = make_tracker(intent, text, entities, dict(self.slots), confidence)
        tracker.sender_id = self.conversation_id
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, tracker, self.domain)
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        return "\n".join(m.get("text") or "" for m in dispatcher.messages), dispatcher.messages

    def waiting_for(self):
        draft = dossiers.dossier_store().load_draft(self.conversation_id)
        return draft.current_field if draft else None

    async def answer_until_confirm(self, answers=ANSWERS):
        text = ""
        for _ in range(60):
            field = self.waiting_for()
            if field == dossiers.CONFIRM:
                return text
            reply = answers.get(field) or sample_reply(field)
            text, _ = await self.say(ActionDossierStep(), reply)
        raise AssertionError("form never finished")

    async def create_passport_dossier(self) -> str:
        """Fill the passport form with the sample answers, confirm, return the dossier code."""
        await self.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
        await self.answer_until_confirm()
        done, _ = await self.say(ActionDossierStep(), "xác nhận", "affirm")
        return re.search(CODE, done).group(0)


def passport(value="ho-chieu"):
    return [{"entity": "procedure", "value": value, "text": "hộ chiếu", "start": 0, "end": 8}]


async def test_full_passport_dossier_from_start_to_pdf_link(domain):
    citizen = Citizen(domain)
    intro, _ = await citizen.say(ActionStartDossier(), "tôi muốn làm hộ chiếu", "start_dossier", passport())
    assert "hủy" in intro and "sửa" in intro
    assert citizen.waiting_for() == "birth_date"  # decides TK01 or TK01a first
    assert citizen.slots["dossier_active"] is True
    summary = await citizen.answer_until_confirm()
    assert "Nguyễn Thị Hồng Nhung" in summary and "001190012345" in summary  # confirmed summary shows full values
    done, _ = await citizen.say(ActionDossierStep(), "xác nhận", "affirm")
    code = re.search(CODE, done).group(0)
    assert "Giấy tờ bạn cần chuẩn bị" in done and "200.000" in done
    assert re.search(r"/dossiers/pdf/\S+", done)
    assert "dự kiến có kết quả ngày" in done
    assert citizen.slots["dossier_active"] is False
    dossier = DossierStore(dossiers.settings.load().app_db).get(code)
    assert dossier.state == "nhap" and dossier.form_id == "TK01"
    assert dossier.answers["full_name"] == "Nguyễn Thị Hồng Nhung"


async def test_child_under_14_gets_the_parent_form(domain):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu cho con", "start_dossier", passport())
    await citizen.say(ActionDossierStep(), "5/6/2018")
    draft = dossiers.dossier_store().load_draft(citizen.conversation_id)
    session = dossiers.FormSession("ho-chieu")
    assert session.form_for(draft.answers).id == "TK01a"


@pytest.mark.parametrize("field, bad, expected", [
    ("birth_date", "31/2/2000", "ngày"), ("birth_date", "12/3/2090", "tương lai"),
])
async def test_bad_date_is_explained_and_asked_again(domain, field, bad, expected):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    reply, _ = await citizen.say(ActionDossierStep(), bad)
    assert expected in reply.lower() and "nhập lại" in reply
    assert citizen.waiting_for() == field


async def test_wrong_id_number_phone_get_specific_messages(domain):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    for _ in range(10):
        field = citizen.waiting_for()
        if field == "personal_id":
            break
        await citizen.say(ActionDossierStep(), ANSWERS[field])
    reply, _ = await citizen.say(ActionDossierStep(), "12345")
    assert "12 chữ số" in reply
    reply, _ = await citizen.say(ActionDossierStep(), "001090012345")  # male digit, but she said nữ
    assert citizen.waiting_for() == "personal_id" and "nhập lại" in reply


async def test_question_in_the_middle_is_answered_and_the_form_resumes(domain):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    reply, _ = await citizen.say(ActionDossierStep(), "lệ phí bao nhiêu?", "ask_fee")
    assert "200.000" in reply and "Quay lại hồ sơ" in reply
    assert citizen.waiting_for() == "birth_date"


async def test_edit_a_field_then_cancel_keeps_the_answers(domain):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    await citizen.answer_until_confirm()
    reply, _ = await citizen.say(ActionDossierStep(), "sửa ngày sinh")
    assert "Sửa" in reply and citizen.waiting_for() == "birth_date"
    reply, _ = await citizen.say(ActionDossierStep(), "13/3/1990")
    assert citizen.waiting_for() == dossiers.CONFIRM and "13/03/1990" in reply
    reply, _ = await citizen.say(ActionDossierStep(), "hủy", "deny")
    assert "giữ lại" in reply and citizen.slots["dossier_active"] is False
    assert DossierStore(dossiers.settings.load().app_db).list_for_conversation(citizen.conversation_id) == []
    resumed, _ = await citizen.say(ActionStartDossier(), "tiếp tục hồ sơ", "start_dossier")
    assert "tiếp tục" in resumed and citizen.waiting_for() == dossiers.CONFIRM


async def test_restart_in_the_middle_loses_nothing(domain):
    citizen = Citizen(domain)
    await citizen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    await citizen.say(ActionDossierStep(), "12/3/1990")
    await citizen.say(ActionDossierStep(), ANSWERS["full_name"])
    dossiers._store_at.cache_clear()  # a new process opens the database afresh
    field = citizen.waiting_for()
    assert field not in ("birth_date", "full_name", None)
    draft = dossiers.dossier_store().load_draft(citizen.conversation_id)
    assert draft.answers["full_name"] == "Nguyễn Thị Hồng Nhung"


async def test_checklist_only_procedure_gets_a_code_without_a_form(domain):
    citizen = Citizen(domain)
    entity = [{"entity": "procedure", "value": "ly-lich-tu-phap", "text": "lý lịch", "start": 0, "end": 7}]
    await citizen.say(ActionStartDossier(), "làm lý lịch tư pháp", "start_dossier", entity)
    summary = await citizen.answer_until_confirm({"full_name": "Lê Thị A", "phone": "0987654321", "case": "1"})
    assert "Lê Thị A" in summary  # the name as typed, not the NLU's "a" → "anh"
    done, _ = await citizen.say(ActionDossierStep(), "đúng", "affirm")
    assert re.search(CODE, done) and "Phiếu kiểm tra hồ sơ (PDF" in done and "/dossiers/pdf/" in done
    assert "Giấy tờ bạn cần chuẩn bị" in done


async def test_draft_of_an_imported_procedure_ends_with_its_checklist_source_and_pdf(domain):
    citizen = Citizen(domain)
    entity = [{"entity": "procedure", "value": "tthc-1-003197", "text": "xóa đăng ký thường trú", "start": 0, "end": 22}]
    intro, _ = await citizen.say(ActionStartDossier(), "tạo hồ sơ xóa đăng ký thường trú", "start_dossier", entity)
    assert "Xóa đăng ký thường trú" in intro and "phiếu kiểm tra hồ sơ (PDF)" in intro
    await citizen.answer_until_confirm({"full_name": "Trần Văn Bình", "phone": "0912345678", "case": "1"})
    done, _ = await citizen.say(ActionDossierStep(), "đúng", "affirm")
    assert re.search(CODE, done) and "/dossiers/pdf/" in done and len(done) <= 2000
    assert "Nguồn: Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã 1.003197" in done


async def test_status_only_for_owner_or_with_last_four_phone_digits(domain):
    owner = Citizen(domain)
    code = await owner.create_passport_dossier()
    mine, _ = await owner.say(ActionCheckStatus(), f"hồ sơ {code} đến đâu rồi?", "check_status")
    assert "Hồ sơ nháp" in mine or "nháp" in mine.lower()
    stranger = Citizen(domain, "someone-else")
    asked, _ = await stranger.say(ActionCheckStatus(), f"hồ sơ {code} đến đâu rồi?", "check_status")
    assert "4 số cuối" in asked and "Nhung" not in asked
    wrong, _ = await stranger.say(ActionCheckStatus(), f"{code} 1111", "check_status")
    assert "Không tìm thấy" in wrong
    right, _ = await stranger.say(ActionCheckStatus(), f"{code} 5678", "check_status")
    assert "Trạng thái" in right and "/dossiers/pdf/" not in right


async def test_guessing_the_last_four_digits_is_limited(domain):
    owner = Citizen(domain)
    code = await owner.create_passport_dossier()
    guesser = Citizen(domain, "guesser")
    for wrong in ("0000", "1111", "2222", "3333", "4444"):
        reply, _ = await guesser.say(ActionCheckStatus(), f"{code} {wrong}", "check_status")
        assert "Không tìm thấy" in reply
    blocked, _ = await guesser.say(ActionCheckStatus(), f"{code} 5678", "check_status")
    assert "quá nhiều lần" in blocked and "Trạng thái" not in blocked
    mine, _ = await owner.say(ActionCheckStatus(), f"hồ sơ {code} đến đâu rồi?", "check_status")
    assert "Trạng thái" in mine

"""Hardening 9: every "today" of the dossiers is Vietnam's, not the server's.

Found as: ``date.today()`` in validators, checklist, conditions, forms, PDF and the expected
result date, and a second ``VN_TZ`` in the store: on a server in UTC, from 00:00 to 07:00 in
Vietnam a baby born "today" was "in the future", a child who turned 14 today got the
under-14 form, and working days counted from yesterday.

The server is put in UTC (TZ=UTC) and ``bot.clock`` frozen at 17:30 UTC on 1/3/2027, that is
00:30 on Tuesday 2/3/2027 in Vietnam; the real date of the machine is something else again.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest

from actions import dossiers
from actions.dossiers import ActionDossierStep, ActionStartDossier
from bot import clock, staff
from bot.dossiers import DossierStore, add_working_days, checklist, render_pdf
from bot.dossiers import conditions, store as store_module
from bot.dossiers.forms import FormSession, default_forms
from bot.dossiers.validators import FieldError, parse_date
from bot.settings import ROOT
from procedures import default_catalogue
from tests.test_dossier_actions import ANSWERS, Citizen, passport

UTC_EVENING = dt.datetime(2027, 3, 1, 17, 30, tzinfo=dt.timezone.utc)   # 00:30 on 2/3/2027 in Vietnam
VN_TODAY = dt.date(2027, 3, 2)
UTC_TODAY = dt.date(2027, 3, 1)


@pytest.fixture(autouse=True)
def server_in_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_SECRET", "test-secret-at-least-16-bytes")
    dossiers._store_at.cache_clear()
    dossiers._limiter_at.cache_clear()
    with clock.frozen(UTC_EVENING):
        yield
    monkeypatch.undo()
    time.tzset()
    dossiers._store_at.cache_clear()
    dossiers._limiter_at.cache_clear()


def test_the_clock_reads_vietnams_date():
    assert clock.today() == VN_TODAY and clock.now().hour == 0
    assert store_module.VN_TZ is clock.VN_TZ
    assert staff._today() == VN_TODAY


def test_born_today_in_vietnam_is_not_in_the_future():
    assert parse_date("02/03/2027").isoformat() == "2027-03-02"
    with pytest.raises(FieldError, match="tương lai"):
        parse_date("03/03/2027")


def test_ages_turn_on_vietnams_date():
    birthday = {"birth_date": "2013-03-02"}                       # 14 today in Vietnam, 13 in UTC
    assert conditions.evaluate({"age_at_least": {"field": "birth_date", "years": 14}}, birthday)
    session = FormSession("ho-chieu")
    assert session.today == VN_TODAY
    assert session.form_for(birthday).id == "TK01"
    procedure = default_catalogue().get("ho-chieu")
    assert checklist(procedure, birthday) == checklist(procedure, birthday, today=VN_TODAY)
    assert checklist(procedure, birthday) != checklist(procedure, birthday, today=UTC_TODAY)  # under-14 papers


def test_store_stamps_and_codes_use_the_clock(tmp_path):
    with clock.frozen(dt.datetime(2026, 12, 31, 17, 30, tzinfo=dt.timezone.utc)):   # 00:30 on 1/1/2027
        d = DossierStore(tmp_path / "d.sqlite").create("ho-chieu", "c", {})
    assert d.code.startswith("HS-2027-")
    assert d.created_at == dt.datetime(2026, 12, 31, 17, 30, tzinfo=dt.timezone.utc)


def test_pdf_without_today_uses_vietnams_date():
    answers = {"birth_date": "2013-03-02", "full_name": "Nguyễn Văn An", "sex": "Nam"}
    form = default_forms()["TK01"]
    assert render_pdf(form, answers, "HS-2027-K7Q4MP") == render_pdf(form, answers, "HS-2027-K7Q4MP",
                                                                     today=VN_TODAY)


async def test_a_form_filled_across_half_past_midnight(domain):
    baby = Citizen(domain, "parents")
    khai_sinh = [{"entity": "procedure", "value": "khai-sinh", "text": "khai sinh", "start": 0, "end": 9}]
    with clock.frozen(UTC_EVENING - dt.timedelta(minutes=40)):    # 23:50 on 1/3 in Vietnam
        await baby.say(ActionStartDossier(), "đăng ký khai sinh", "start_dossier", khai_sinh)
    for _ in range(40):                                           # then the clock passes midnight
        field = baby.waiting_for()
        if field == "child_birth_date":
            break
        reply = {"requester_birth_date": "1/1/1995", "requester_personal_id": "001195012345",
                 "requester_name": "Trần Thị Lan", "child_name": "Nguyễn Minh An",
                 "authority": "UBND phường Hoàn Kiếm",
                 "requester_address": ANSWERS["permanent_address"]}.get(field) \
            or ANSWERS.get(field) or ("1" if field in ("requester_relation",) else "bỏ qua")
        await baby.say(ActionDossierStep(), reply)
    assert baby.waiting_for() == "child_birth_date"
    reply, _ = await baby.say(ActionDossierStep(), "02/03/2027")             # born 10 minutes ago
    assert "tương lai" not in reply
    draft = dossiers.dossier_store().load_draft(baby.conversation_id)
    assert draft.answers["child_birth_date"] == "2027-03-02"

    teen = Citizen(domain, "teen")
    await teen.say(ActionStartDossier(), "làm hộ chiếu", "start_dossier", passport())
    await teen.say(ActionDossierStep(), "2/3/2013")                          # 14 today, in Vietnam
    session = FormSession("ho-chieu")
    teen_draft = dossiers.dossier_store().load_draft(teen.conversation_id)
    assert session.form_for(teen_draft.answers).id == "TK01"
    await teen.answer_until_confirm({**ANSWERS, "birth_date": "2/3/2013", "personal_id": "001313012345"})
    done, _ = await teen.say(ActionDossierStep(), "xác nhận", "affirm")
    expected = add_working_days(VN_TODAY, 8)
    assert expected != add_working_days(UTC_TODAY, 8)
    assert f"dự kiến có kết quả ngày {expected:%d/%m/%Y}" in done


def test_no_server_dates_left():
    sources = [*Path(ROOT, "bot", "dossiers").glob("*.py"), ROOT / "actions" / "dossiers.py", ROOT / "bot" / "staff.py"]
    pattern = re.compile(r"date\.today\(\)|datetime\.now\(|datetime\.today\(\)|\.astimezone\(\)|"
                         r"time\.localtime|dt\.timezone\(dt\.timedelta\(hours=7")
    offenders = [f"{p.name}:{n}" for p in sources
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line) and not line.lstrip().startswith("#")]
    assert offenders == []

"""Checklist of papers for the citizen's case (catalogue groups filtered by answers)."""

import datetime as dt
from types import SimpleNamespace as NS

import pytest

from bot.dossiers.checklist import checklist, format_checklist

TODAY = dt.date(2026, 2, 12)


def paper(name, form=None, originals=1, copies=0, note=""):
    return NS(name=name, form=form, originals=originals, copies=copies, note=note)


# A fake catalogue record with the catalogue's API (procedures.Procedure / PaperGroup / Paper).
HO_CHIEU = NS(id="ho-chieu", papers=(
    NS(case="Người từ đủ 14 tuổi", items=(
        paper("Tờ khai đề nghị cấp hộ chiếu phổ thông", "TK01"),
        paper("Ảnh chân dung 4 x 6 cm", originals=2))),
    NS(case="Người chưa đủ 14 tuổi (cha, mẹ hoặc người giám hộ làm thủ tục)", items=(
        paper("Tờ khai đề nghị cấp hộ chiếu phổ thông cho người chưa đủ 14 tuổi", "TK01a"),
        paper("Ảnh chân dung 4 x 6 cm", originals=2),
        paper("Giấy khai sinh hoặc trích lục khai sinh", originals=0, copies=1))),
    NS(case="Cấp lại do hộ chiếu bị mất", items=(paper("Đơn trình báo mất hộ chiếu", "TK05"),)),
    NS(case="Trường hợp đặc biệt khác", items=(paper("Giấy tờ chứng minh khác"),)),
))


def names(items, certain=None):
    return [i.name for i in items if certain is None or i.certain == certain]


def test_adult_gets_tk01_papers_only():
    items = checklist(HO_CHIEU, {"birth_date": "1990-03-12", "request": "Cấp hộ chiếu lần đầu"}, today=TODAY)
    assert names(items, True) == ["Tờ khai đề nghị cấp hộ chiếu phổ thông", "Ảnh chân dung 4 x 6 cm"]
    assert names(items, False) == ["Giấy tờ chứng minh khác"]
    assert items[0].prefilled and not items[1].prefilled


def test_child_gets_the_birth_certificate_and_tk01a():
    items = checklist(HO_CHIEU, {"birth_date": "2015-06-01"}, today=TODAY)
    certain = names(items, True)
    assert "Giấy khai sinh hoặc trích lục khai sinh" in certain
    assert "Tờ khai đề nghị cấp hộ chiếu phổ thông cho người chưa đủ 14 tuổi" in certain
    assert "Tờ khai đề nghị cấp hộ chiếu phổ thông" not in certain
    assert certain.count("Ảnh chân dung 4 x 6 cm") == 1
    # request not answered yet: the lost-passport group "may apply"
    assert "Đơn trình báo mất hộ chiếu" in names(items, False)


def test_lost_passport_adds_the_loss_report():
    items = checklist(HO_CHIEU, {"birth_date": "1990-03-12", "request": "Cấp lại do hộ chiếu bị mất"},
                      today=TODAY)
    assert "Đơn trình báo mất hộ chiếu" in names(items, True)
    items = checklist(HO_CHIEU, {"birth_date": "1990-03-12", "request": "Cấp hộ chiếu lần đầu"}, today=TODAY)
    assert "Đơn trình báo mất hộ chiếu" not in names(items)


def test_format_checklist_in_vietnamese():
    text = format_checklist(checklist(HO_CHIEU, {"birth_date": "2015-06-01"}, today=TODAY))
    assert text.startswith("Giấy tờ bạn cần chuẩn bị:")
    assert "- Giấy khai sinh hoặc trích lục khai sinh: 1 bản sao" in text
    assert "(mẫu TK01a): 1 bản chính — mình đã điền sẵn trong tệp PDF" in text
    assert "Nếu thuộc trường hợp “Trường hợp đặc biệt khác”:" in text


def test_undecided_form_is_an_error():
    with pytest.raises(ValueError):
        checklist(HO_CHIEU, {}, today=TODAY)


def test_with_the_real_catalogue():
    procedures = pytest.importorskip("procedures")
    catalogue = procedures.default_catalogue()
    child = checklist(catalogue.get("ho-chieu"), {"birth_date": "2015-06-01"}, today=TODAY)
    assert any("khai sinh" in i.name.lower() for i in child if i.certain)
    assert not any(i.form == "TK01" for i in child)
    minor = checklist(catalogue.get("tam-tru"), {"birth_date": "2010-01-01"}, today=TODAY)
    assert any(i.case == "Người chưa thành niên" and i.certain for i in minor)
    adult = checklist(catalogue.get("tam-tru"), {"birth_date": "1990-01-01"}, today=TODAY)
    assert not any(i.case == "Người chưa thành niên" for i in adult)
    paper_birth = checklist(catalogue.get("khai-sinh"), {}, today=TODAY)
    assert not any(i.case == "Nộp trực tuyến" for i in paper_birth)
    assert any(i.prefilled for i in paper_birth)

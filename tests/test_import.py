"""Import of the national database (procedures.importer) on real records, in both formats.

The rendered records are taken from procedures/national/national-2026-07.jsonl.gz (only the
ones needed, so the tests stay fast); the portal API records are copies in tests/data/portal/.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from procedures import importer
from procedures.__main__ import main
from procedures.importer import (
    import_records,
    read_catalogue,
    record_from_json,
    record_to_json,
    write_catalogue,
)
from procedures.loading import DEFAULT_DIRECTORY, load_catalogue, load_national

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = ROOT / "procedures" / "national" / "national-2026-07.jsonl.gz"
PORTAL = ROOT / "tests" / "data" / "portal"

PASSPORT = "1.001456"  # Cấp hộ chiếu phổ thông ở trong nước (thực hiện tại cấp tỉnh), Công an
BIRTH = "1.001193"  # Thủ tục đăng ký khai sinh (four cases, no executing agency)
CUSTOMS = "1.000005"  # three cases of papers with copies; a time limit without unit run into the fee
AUTHORITY_ONLY = "1.000049"  # no executing agency, a competent authority
LOST_PASSPORT_DISTRICT = "1.010385"  # Trình báo mất hộ chiếu phổ thông (thực hiện tại cấp huyện)
BANK = "1.001707"  # legal basis cells that repeat the kind ("Luật số 32/2024/QH15")
NO_PAPER_TABLE = "1.001521"  # papers without a table: kept whole and reported
CODES = [PASSPORT, BIRTH, CUSTOMS, AUTHORITY_ONLY, LOST_PASSPORT_DISTRICT, BANK, NO_PAPER_TABLE]
SOURCE_DATE = dt.date(2026, 7, 1)


def raw_records(codes: list[str]) -> dict[str, dict]:
    wanted, found = set(codes), {}
    with gzip.open(NATIONAL, "rt", encoding="utf-8") as handle:
        for line in handle:
            if any(f'"ma_thu_tuc": "{code}"' in line for code in wanted):
                record = json.loads(line)
                found[record["ma_thu_tuc"]] = record
    assert set(found) == wanted
    return found


def write_jsonl(path: Path, records: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def raw() -> dict[str, dict]:
    return raw_records(CODES)


@pytest.fixture(scope="module")
def source(raw, tmp_path_factory) -> Path:
    """A small file named like the national one (the source date comes from the name)."""
    return write_jsonl(tmp_path_factory.mktemp("tthc") / "national-2026-07.jsonl.gz", [raw[c] for c in CODES])


@pytest.fixture(scope="module")
def result(source):
    return import_records([source])


@pytest.fixture(scope="module")
def portal():
    return import_records(sorted(PORTAL.glob("*.json")))


# --- rendered format ----------------------------------------------------------------------------

def test_passport_record(result):
    record = result.records[PASSPORT]
    p = record.procedure
    assert p.id == "tthc-1-001456" and p.code == PASSPORT
    assert p.name == "Cấp hộ chiếu phổ thông ở trong nước (thực hiện tại cấp tỉnh)"
    assert p.short_name == "Cấp hộ chiếu phổ thông ở trong nước (cấp tỉnh)"
    assert p.level == ("tinh",) and p.field == "Quản lý xuất nhập cảnh" and p.agency == "Công an cấp Tỉnh"
    assert p.subjects == "Công dân Việt Nam"
    assert [s.split(":")[0] for s in p.steps] == ["Bước 1", "Bước 2", "Bước 3"]
    direct, online, post = p.channel("truc_tiep"), p.channel("truc_tuyen"), p.channel("buu_chinh")
    assert (direct.fee_vnd, online.fee_vnd, post.fee_vnd) == (200000, 160000, 160000)
    assert direct.fee.startswith("200.000 đồng (200.000đ/ hộ chiếu. Trường hợp cấp lại")
    assert all(c.duration == "8 ngày làm việc" and c.working_days == 8 for c in p.channels)
    assert p.working_days() == 8
    assert p.submit.online == "mot_phan" and p.submit.post is True
    papers = {i.name.split(" ")[0] + " " + i.name.split(" ")[1]: i for i in p.papers[0].items}
    assert len(p.papers) == 1 and len(p.papers[0].items) == 6
    copy = p.papers[0].items[0]
    assert copy.name.startswith("Bản sao giấy tờ do cơ quan có thẩm quyền") and (copy.originals, copy.copies) == (1, 1)
    form = p.papers[0].items[1]
    assert form.name.startswith("Tờ khai đề nghị cấp hộ chiếu phổ thông ở trong nước (mẫu TK01")
    assert form.name.endswith("người đại diện hợp pháp khai và ký thay.")  # the file name is split off
    assert form.form == "TK01" and (form.originals, form.copies) == (1, 0)
    assert form.note == "Mẫu đơn, tờ khai: Mau TK01a to khai trẻ em cap HCPT ở trong nước TK01a MỚI.doc."
    assert papers["Ảnh mới"].quantity() == "1 bản chính"
    assert [d.number for d in p.legal_basis] == [
        "23/2023/QH15", "25/2021/TT-BTC", "44/2023/TT-BTC", "31/2023/TT-BCA", "110/2020/TT-BCA", "49/2019/QH14"]
    law = p.legal_basis[-1]
    assert (law.title, law.issuer) == ("Luật 49/2019/QH14", "Quốc hội")
    forms_decree = p.legal_basis[3]
    assert forms_decree.issued == dt.date(2023, 7, 20) and forms_decree.issuer == "Bộ Công an"
    assert p.result == "Hộ chiếu phổ thông không gắn chíp điện tử hoặc hộ chiếu phổ thông có gắn chíp điện tử."
    assert p.conditions == ""  # "Không có thông tin"
    assert p.sources[0].url == "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bf7-5fda-7370-bc07-6f1fd02ffcc4"
    assert p.sources[0].title == "Cơ sở dữ liệu quốc gia về thủ tục hành chính, mã 1.001456"
    assert p.checked_on == SOURCE_DATE
    assert p.unverified == ("submit",)  # everything else parsed
    assert record.problems == ()
    # the online fee note "áp dụng đến hết ngày 31/12/2023" ended before the source date
    assert record.flags == ("expired_fee_note:channels",)
    assert result.flags[PASSPORT] == ["expired_fee_note:channels"]


def test_birth_registration(result):
    record = result.records[BIRTH]
    p = record.procedure
    assert p.short_name == "Đăng ký khai sinh" and p.level == ("xa",) and p.field == "Hộ tịch"
    assert p.subjects == "Công dân Việt Nam, Người Việt Nam định cư ở nước ngoài"
    assert [c.method for c in p.channels] == ["truc_tiep", "truc_tuyen", "buu_chinh"]
    assert all(c.fee == "Miễn phí" and c.fee_vnd == 0 for c in p.channels)
    # "Trực tuyến1Miễn phí": a time limit without unit is kept as text, not read as working days
    assert all(c.duration == "1 (không ghi đơn vị)" and c.working_days is None for c in p.channels)
    assert ("duration", "time limit without a unit: trực tiếp '1'") in record.problems
    assert "duration" in p.unverified
    assert [g.case for g in p.papers] == ["* Giấy tờ phải nộp:", "* Giấy tờ phải xuất trình:", "* Lưu ý:",
                                          "Thành phần hồ sơ"]
    submitted = {i.name[:16]: i for i in p.papers[0].items}
    assert submitted["- Giấy chứng sin"].quantity() == "1 bản chính"
    last = [i.name for i in p.papers[3].items]
    assert any(name.startswith("- Tờ khai đăng ký khai sinh theo mẫu") for name in last)
    assert "60/2014/QH13" in [d.number for d in p.legal_basis] and "123/2015/NĐ-CP" in [d.number for d in p.legal_basis]
    assert p.result == "Giấy khai sinh"
    assert p.agency == "" and record.flags == ("no_agency",)
    assert len(p.steps) > 5 and p.steps[0].startswith("- Nếu lựa chọn hình thức nộp hồ sơ trực tiếp")


def test_several_cases_with_copies_and_a_glued_fee(result):
    p = result.records[CUSTOMS].procedure
    assert [g.case[:20] for g in p.papers] == ["1. Chứng từ phải nộp", "2. Hồ sơ hải quan đố", "3. Hồ sơ hải quan đố"]
    assert [len(g.items) for g in p.papers] == [8, 8, 3]
    invoice = next(i for i in p.papers[0].items if i.name.startswith("b) Hóa đơn thương mại"))
    assert (invoice.originals, invoice.copies) == (0, 1) and invoice.quantity() == "1 bản sao"
    # "Trực tuyến120,000 VNĐ(Theo khoản 1 Điều 3 Thông tư số 172/2010/TT-BTC …)": time 1, fee 20.000 đồng
    (online,) = p.channels
    assert online.method == "truc_tuyen" and online.fee_vnd == 20000 and online.fee.startswith("20.000 đồng (Theo")
    assert [d.number for d in p.legal_basis] == ["54/2014/QH13", "92/2015/TT-BTC", "78/2006/QH11"]


def test_without_agency_and_with_a_competent_authority(result):
    record = result.records[AUTHORITY_ONLY]
    assert record.procedure.agency == "Sở Nông nghiệp và Môi trường"  # co_quan_co_tham_quyen
    assert record.flags == ("agency_from_authority",)
    assert record.procedure.channel("truc_tiep").working_days == 7


def test_district_level_flags(result):
    record = result.records[LOST_PASSPORT_DISTRICT]
    assert record.procedure.agency == "Công an huyện"
    assert record.procedure.short_name == "Trình báo mất hộ chiếu phổ thông (cấp huyện)"
    assert {"district_level:name", "district_level:agency", "district_level:steps"} <= set(record.flags)
    assert record.has_flag("district_level", "agency") and not record.has_flag("expired_fee_note")
    assert LOST_PASSPORT_DISTRICT in result.flag_index()["district_level:agency"]
    assert importer.district_mentions("Phòng Tài nguyên và Môi trường cấp huyện; UBND quận/huyện")
    assert not importer.district_mentions("số 333 Nguyễn Trãi, Quận 1, Thành phố Hồ Chí Minh; Công an cấp xã")


def test_legal_basis_cells_that_repeat_the_kind(result):
    docs = result.records[BANK].procedure.legal_basis
    assert [(d.number, d.title) for d in docs] == [("32/2024/QH15", "Luật Các tổ chức tín dụng"),
                                                   ("73/2025/TT-NHNN", "73/2025/TT-NHNN")]
    assert docs[1].issuer == "Ngân hàng Nhà nước Việt Nam"


def test_unparsed_papers_are_kept_and_reported(result):
    record = result.records[NO_PAPER_TABLE]
    fields = [name for name, _ in record.problems]
    assert "papers" in fields and "papers" in record.procedure.unverified
    (group,) = [g for g in record.procedure.papers if any("Chưa tách" in i.note for i in g.items)] or [None]
    assert group is not None and group.items[0].name  # the text is there, not dropped
    assert NO_PAPER_TABLE in result.problems["papers"]


def test_expired_fee_dates():
    assert importer.expired_dates("(áp dụng đến hết ngày 31/12/2023 theo Thông tư 44/2023/TT-BTC)",
                                  SOURCE_DATE) == [dt.date(2023, 12, 31)]
    assert importer.expired_dates("Miễn kể từ ngày 07/4/2026 đến 30/6/2026", SOURCE_DATE) == [dt.date(2026, 6, 30)]
    assert importer.expired_dates("áp dụng đến hết ngày 31/12/2026", SOURCE_DATE) == []


def test_short_names():
    assert importer.short_name("Thủ tục đăng ký khai sinh") == "Đăng ký khai sinh"
    assert importer.short_name("THỦ TỤC THÔI VIỆC ĐỐI VỚI CÔNG CHỨC") == "Thôi việc đối với công chức"
    long = importer.short_name("Cấp, gia hạn, cấp lại, cấp đổi chứng chỉ hành nghề đo đạc và bản đồ hạng I "
                               "(thực hiện tại cấp tỉnh)")
    assert len(long) <= 60 and long.endswith("… (cấp tỉnh)")


# --- portal format --------------------------------------------------------------------------------

def test_portal_marriage_record(portal):
    record = portal.records["1.000894"]
    p = record.procedure
    assert record.format == "portal" and p.name == "Thủ tục đăng ký kết hôn" and p.short_name == "Đăng ký kết hôn"
    assert p.level == ("xa",) and p.field == "Hộ tịch" and p.agency == "Ủy ban Nhân dân xã, phường, thị trấn."
    assert [c.method for c in p.channels] == ["truc_tiep", "truc_tuyen", "buu_chinh"]
    assert all(c.fee_vnd == 0 and c.fee.startswith("Miễn phí (Miễn lệ phí.") for c in p.channels)
    assert [(g.case, len(g.items)) for g in p.papers] == [("* Giấy tờ phải xuất trình:", 6), ("* Lưu ý :", 14),
                                                          ("Thành phần hồ sơ", 3)]
    id_paper = p.papers[0].items[0]
    assert id_paper.name.startswith("- Hộ chiếu/Thẻ căn cước công dân") and id_paper.quantity() == "1 bản chính"
    assert p.legal_basis[0].number == "66.7/2025/NQ-CP" and p.legal_basis[0].issuer == "Chính phủ"
    assert p.result == "Giấy chứng nhận kết hôn"
    assert p.checked_on == dt.date(2026, 4, 16)  # the portal's updatedAt
    assert p.sources[0].url == "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bfd-3fac-7489-b53b-a15eb239a6fe"


def test_portal_fees_per_page_and_set_by_the_province(portal):
    copies = portal.records["2.000815"]
    (direct,) = copies.procedure.channels  # two DIRECT methods, one channel
    assert direct.fee == "2.000 đồng (mỗi trang); 10 USD (mỗi bản)" and direct.fee_vnd is None
    assert ("fee", "amount in USD, none in đồng: trực tiếp") in copies.problems
    household = portal.records["1.001612"].procedure
    assert all(c.fee_vnd is None and c.fee.startswith("- Mức lệ phí cụ thể do Hội đồng nhân dân tỉnh")
               for c in household.channels)
    assert all(c.working_days == 3 for c in household.channels)
    request = household.papers[0].items[0]
    assert request.note == "Mẫu đơn, tờ khai: Giấy ĐN đăng ký hộ kd.docx." and request.form == "1"
    assert "296/2026/NĐ-CP" in [d.number for d in household.legal_basis]  # "Nghị định số 296/2026/NĐ-CP"
    assert portal.flags["1.001612"] == ["no_agency"]


def test_portal_list_file_and_both_formats_together(tmp_path, source):
    records = [json.loads((PORTAL / name).read_text(encoding="utf-8")) for name in ("1.000894.json", "2.000815.json")]
    listed = tmp_path / "records.json"
    listed.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    both = import_records([source, listed])
    assert {"1.000894", "2.000815", PASSPORT} <= set(both.records)
    assert both.records["1.000894"].format == "portal" and both.records[PASSPORT].format == "rendered"


# --- JSON, idempotence, changes, report -------------------------------------------------------------

def test_json_round_trip(result, portal):
    for record in [*result.records.values(), *portal.records.values()]:
        data = json.loads(json.dumps(record_to_json(record.procedure), ensure_ascii=False))
        assert record_from_json(data) == record.procedure
    with pytest.raises(importer.RecordError):
        record_from_json({"id": "x"})


def test_import_twice_is_idempotent(tmp_path, source):
    out = tmp_path / "catalogue.jsonl.gz"
    first = import_records([source], previous=out)
    write_catalogue(first, out)
    assert sorted(first.changes.added) == sorted(CODES) and not first.changes.changed
    content = out.read_bytes()
    second = import_records([source], previous=out)
    assert second.changes.is_empty()
    write_catalogue(second, out)
    assert out.read_bytes() == content  # byte for byte
    loaded = read_catalogue(out)
    assert {c: r.procedure for c, r in loaded.items()} == {c: r.procedure for c, r in first.records.items()}
    assert loaded[PASSPORT].flags == first.records[PASSPORT].flags


def test_a_newer_file_reports_what_changed(tmp_path, raw, source):
    out = tmp_path / "catalogue.jsonl.gz"
    write_catalogue(import_records([source]), out)
    newer = [dict(raw[c]) for c in CODES if c != BANK]
    passport = next(r for r in newer if r["ma_thu_tuc"] == PASSPORT)
    passport["cach_thuc_thuc_hien"] = passport["cach_thuc_thuc_hien"].replace(
        "Trực tiếp8 Ngày làm việc200,000", "Trực tiếp5 Ngày làm việc250,000")
    passport["co_quan_thuc_hien"] = "Phòng Quản lý xuất nhập cảnh Công an cấp tỉnh"
    extra = dict(raw[BIRTH], ma_thu_tuc="1.999999")
    path = write_jsonl(tmp_path / "national-2026-08.jsonl.gz", [*newer, extra])
    changes = import_records([path], previous=out).changes
    assert changes.added == ["1.999999"] and changes.removed == [BANK]
    assert "channels" in changes.changed[PASSPORT] and "agency" in changes.changed[PASSPORT]
    assert "checked_on" in changes.changed[PASSPORT]  # the newer file's date
    assert PASSPORT in changes.by_field()["channels"]
    updated = import_records([path]).records[PASSPORT].procedure
    assert updated.channel("truc_tiep").fee_vnd == 250000 and updated.channel("truc_tiep").working_days == 5
    assert updated.checked_on == dt.date(2026, 8, 1)


def test_cli_import_and_report(tmp_path, source, capsys):
    out = tmp_path / "catalogue.jsonl.gz"
    assert main(["import", str(source), "--out", str(out)]) == 0
    assert f"wrote {len(CODES)} records" in capsys.readouterr().out
    assert main(["import", str(source), "--out", str(out)]) == 0
    assert "no changes" in capsys.readouterr().out
    assert main(["report", "--catalogue", str(out), "--all"]) == 0
    report = capsys.readouterr().out
    assert "Parse problems (kept as text), per field:" in report
    assert f"  duration: 2 records: {CUSTOMS}, {BIRTH}\n          4 × time limit without a unit" in report
    assert f"  papers: 1 record: {NO_PAPER_TABLE}\n          1 × no paper table, kept whole" in report
    assert f"  expired_fee_note — ghi chú phí, lệ phí đã hết thời hạn áp dụng: 1 record\n      channels: 1: {PASSPORT}" \
        in report
    assert f"      agency: 2: {NO_PAPER_TABLE}, {LOST_PASSPORT_DISTRICT}" in report
    assert f"      no_agency: 1: {BIRTH}" in report
    assert main(["report", "--catalogue", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["records"] == len(CODES) and NO_PAPER_TABLE in data["problems"]["papers"]
    assert data["flags"]["expired_fee_note:channels"] == [PASSPORT]


# --- opt-in loading -------------------------------------------------------------------------------------

def test_national_records_are_opt_in(tmp_path, source):
    out = tmp_path / "catalogue.jsonl.gz"
    write_catalogue(import_records([source]), out)
    default = load_catalogue()
    assert len(default) == 13 and not any(default.is_imported(p.id) for p in default)
    merged = load_national(out)
    assert load_catalogue(national=out).ids() == merged.ids()
    # hand-written records win for their codes: ho-chieu (1.001456) and khai-sinh (1.001193)
    assert "tthc-1-001456" not in merged and "tthc-1-001193" not in merged
    assert merged.get("ho-chieu") == default.get("ho-chieu") and not merged.is_imported("ho-chieu")
    assert merged.is_imported("tthc-1-010385") and "district_level:agency" in merged.flags("tthc-1-010385")
    assert len(merged) == 13 + len(CODES) - 2
    assert merged.flags("ho-chieu") == ()


def test_the_hand_written_records_carry_national_codes():
    from procedures.loading import hand_written_codes

    catalogue = load_catalogue()
    codes = hand_written_codes(catalogue)
    # every hand-written record carries its own national code (doi-gplx.yml: 3.000347)
    own = {catalogue.national_code(p.id) for p in catalogue}
    assert len(own) == 13 and own <= set(codes)
    assert codes["3.000347"] == "doi-gplx" and codes["1.001456"] == "ho-chieu"
    # and the codes they cover: the same procedure split by age or level in the national database
    assert codes["1.014062"] == "can-cuoc" and codes["1.001471"] == "ho-chieu"


def test_a_covered_imported_record_is_left_out_and_its_name_leads_to_the_hand_written_one():
    catalogue = load_national()
    assert "tthc-1-014062" not in catalogue and not catalogue.is_imported("can-cuoc")
    assert "Cấp thẻ căn cước cho người dưới 14 tuổi" in catalogue.covered_names("can-cuoc")
    found = catalogue.retriever.find("cấp thẻ căn cước cho người dưới 14 tuổi cần giấy gì")
    assert found.procedure is not None and found.procedure.id == "can-cuoc"


def test_covers_is_validated_like_the_other_codes(tmp_path):
    import shutil

    from procedures.loading import CatalogueError

    shutil.copytree(DEFAULT_DIRECTORY, tmp_path / "catalogue")
    path = tmp_path / "catalogue" / "ho-chieu.yml"
    path.write_text(path.read_text(encoding="utf-8").replace('  - "1.001471"', '  - "1001471"'), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"covers\[0\]"):
        load_catalogue(tmp_path / "catalogue")

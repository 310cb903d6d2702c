"""The procedure catalogue: loading, validation, search, and the facts that must be current in 2026."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from bot.vntext import fold
from procedures import Catalogue, CatalogueError, Procedure, build_database, default_catalogue, load_catalogue
from procedures.loading import DEFAULT_DIRECTORY, REPO_ROOT, file_label

IDS = {"ho-chieu", "khai-sinh", "ket-hon", "khai-tu", "thuong-tru", "tam-tru", "can-cuoc", "giay-phep-xay-dung",
       "ho-kinh-doanh", "chung-thuc-ban-sao", "ly-lich-tu-phap", "doi-gplx", "xac-nhan-hon-nhan"}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def raw_record(procedure_id: str) -> dict:
    return yaml.safe_load((DEFAULT_DIRECTORY / f"{procedure_id}.yml").read_text(encoding="utf-8"))


def write(directory: Path, name: str, record: dict) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(record, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(directory: Path) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(directory)
    return info.value


# --- loading -----------------------------------------------------------------------------------

def test_loads_exactly_the_13_procedures(catalogue):
    assert len(catalogue) == 13
    assert set(catalogue.ids()) == IDS
    assert all(isinstance(p, Procedure) for p in catalogue.all())
    assert [p.id for p in catalogue.all()] == sorted(IDS)


def test_lookup_by_id(catalogue):
    passport = catalogue.get("ho-chieu")
    assert passport.name == "Cấp hộ chiếu phổ thông ở trong nước"
    assert "ho-chieu" in catalogue and "ho-khau" not in catalogue
    assert catalogue.get("ho-khau") is None and catalogue.get(None) is None


def test_records_are_immutable_and_normalised(catalogue):
    passport = catalogue.get("ho-chieu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        passport.name = "x"
    assert passport.level == ("tinh", "bo")
    assert catalogue.get("khai-sinh").level == ("xa",)
    assert isinstance(passport.aliases, tuple) and isinstance(passport.channels[0].fee_vnd, int)


def test_default_catalogue_is_loaded_once():
    assert default_catalogue() is default_catalogue()
    assert {p.id for p in default_catalogue().hand_written()} == IDS
    assert len(default_catalogue()) > 2500  # with the records imported from the national database


def test_every_record_has_sources_legal_basis_and_a_2026_check_date(catalogue):
    for p in catalogue.all():
        assert p.sources and p.legal_basis, p.id
        assert p.checked_on.year >= 2026, p.id
        for source in p.sources:
            assert "procedures_reference" not in f"{source.title} {source.url}", p.id


def test_helpers(catalogue):
    residence = catalogue.get("thuong-tru")
    assert residence.fee_summary() == ("Trực tiếp: 20.000 đồng/lần (một số đối tượng được miễn); "
                                       "trực tuyến: 10.000 đồng/lần (một số đối tượng được miễn)")
    assert residence.duration_summary() == "07 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ"
    assert residence.channel("truc_tuyen").fee_vnd == 10000 and residence.channel("buu_chinh") is None
    licence = catalogue.get("doi-gplx")
    assert licence.is_unverified("fee") and not residence.is_unverified("fee")
    with pytest.raises(ValueError):
        licence.is_unverified("fees")


# --- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, words", [
    (lambda r: r.pop("name"), "name", "missing"),
    (lambda r: r["channels"][0].update(fee_vnd="200.000"), "channels[0].fee_vnd", "integer"),
    (lambda r: r["channels"][1].update(working_days=True), "channels[1].working_days", "integer"),
    (lambda r: r["channels"][0].update(method="online"), "channels[0].method", "one of"),
    (lambda r: r.update(level="huyen"), "level", "one of"),
    (lambda r: r["submit"].update(online="muc_do_4"), "submit.online", "one of"),
    (lambda r: r.update(unverified=["fees"]), "unverified[0]", "one of"),
    (lambda r: r["papers"][0]["items"][0].update(originals="1"), "papers[0].items[0].originals", "integer"),
    (lambda r: r.update(code=1.001456), "code", "1.001456"),
    (lambda r: r.update(checked_on="23/11/2026"), "checked_on", "date"),
    (lambda r: r.update(aliases=[]), "aliases", "empty"),
    (lambda r: r.update(fees="200.000"), "fees", "unknown key"),
    (lambda r: r["legal_basis"][0].pop("issuer"), "legal_basis[0].issuer", "missing"),
    (lambda r: r["sources"][0].update(url="dichvucong.gov.vn"), "sources[0].url", "URL"),
    (lambda r: r.update(name="Ca\u0302\u0301p hộ chiếu"), "name", "NFC"),
    (lambda r: r["submit"].update(post=True), "submit.post", "buu_chinh"),
    (lambda r: r["channels"].append(dict(r["channels"][0])), "channels[2].method", "duplicate"),
    (lambda r: r["aliases"].append("ho chieu"), "aliases[", "diacritics"),
])
def test_invalid_record_names_file_and_field(tmp_path, change, field, words):
    record = raw_record("ho-chieu")
    change(record)
    write(tmp_path, "ho-chieu.yml", record)
    error = load_error(tmp_path)
    [problem] = error.problems
    assert problem.startswith(f"{tmp_path / 'ho-chieu.yml'}: {field}"), problem
    assert words in problem, problem


def test_files_in_the_repository_are_named_from_its_root():
    assert file_label(DEFAULT_DIRECTORY / "ho-chieu.yml") == "procedures/catalogue/ho-chieu.yml"


def test_id_must_match_file_name(tmp_path):
    write(tmp_path, "passport.yml", raw_record("ho-chieu"))
    [problem] = load_error(tmp_path).problems
    assert problem.startswith(f"{tmp_path / 'passport.yml'}: id:")


def test_alias_naming_two_procedures_is_rejected_even_without_diacritics(tmp_path):
    write(tmp_path, "ho-chieu.yml", raw_record("ho-chieu"))
    visa = raw_record("tam-tru")
    visa["id"] = "thi-thuc"
    visa["aliases"] = ["thị thực", "Ho Chieu"]  # folds to "ho chieu", an alias of ho-chieu
    write(tmp_path, "thi-thuc.yml", visa)
    [problem] = load_error(tmp_path).problems
    assert problem.startswith(f"{tmp_path / 'thi-thuc.yml'}: aliases[1]:")
    assert "'ho-chieu'" in problem and "ho-chieu.yml" in problem


def test_alias_naming_another_procedure_once_abbreviations_are_expanded_is_rejected(tmp_path):
    write(tmp_path, "ho-chieu.yml", raw_record("ho-chieu"))
    visa = raw_record("tam-tru")
    visa["id"] = "thi-thuc"
    visa["aliases"] = ["thị thực", "lm hộ chiếu"]  # "lm" is chat for "làm": "làm hộ chiếu"
    write(tmp_path, "thi-thuc.yml", visa)
    [problem] = load_error(tmp_path).problems
    assert problem.startswith(f"{tmp_path / 'thi-thuc.yml'}: aliases[1]: 'lam ho chieu' already names procedure 'ho-chieu'")


def test_nothing_is_loaded_when_any_file_is_bad_and_every_bad_file_is_reported(tmp_path):
    for pid in ("ho-chieu", "khai-sinh", "ket-hon"):
        write(tmp_path, f"{pid}.yml", raw_record(pid))
    assert len(load_catalogue(tmp_path)) == 3
    broken = raw_record("khai-sinh")
    del broken["papers"]
    write(tmp_path, "khai-sinh.yml", broken)
    (tmp_path / "ket-hon.yml").write_text("id: ket-hon\nname: [unclosed\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert len(error.problems) == 2
    assert error.problems[0].startswith(f"{tmp_path / 'ket-hon.yml'}: invalid YAML")
    assert error.problems[1] == f"{tmp_path / 'khai-sinh.yml'}: papers: missing required key"


def test_duplicate_yaml_keys_and_wrong_extension_are_rejected(tmp_path):
    text = (DEFAULT_DIRECTORY / "ho-chieu.yml").read_text(encoding="utf-8")
    (tmp_path / "ho-chieu.yml").write_text(text + "\nname: Hộ chiếu\n", encoding="utf-8")
    (tmp_path / "khai-sinh.yaml").write_text("id: khai-sinh\n", encoding="utf-8")
    problems = load_error(tmp_path).problems
    assert any(p.startswith(f"{tmp_path / 'khai-sinh.yaml'}: wrong extension") for p in problems)
    assert any(p.startswith(f"{tmp_path / 'ho-chieu.yml'}: invalid YAML") and "duplicate key 'name'" in p
               for p in problems)


def test_empty_or_missing_directory_is_an_error(tmp_path):
    assert "no procedure records" in str(load_error(tmp_path))
    assert "not a directory" in str(load_error(tmp_path / "missing"))


def test_cli_validate(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "procedures", "validate"], cwd=REPO_ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "OK: 13 procedures"
    record = raw_record("ho-chieu")
    record["level"] = "huyen"
    write(tmp_path, "ho-chieu.yml", record)
    bad = subprocess.run([sys.executable, "-m", "procedures", "--dir", str(tmp_path), "validate"],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "ho-chieu.yml: level:" in bad.stderr


# --- aliases and search ------------------------------------------------------------------------

def test_alias_phrases_are_folded_and_cover_colloquial_names(catalogue):
    phrases = catalogue.alias_phrases()
    assert all(key == fold(key) for key in phrases)
    expected = {"ho chieu": "ho-chieu", "passport": "ho-chieu", "nhap khau": "thuong-tru", "so ho khau": "thuong-tru",
                "cong chung giay to": "chung-thuc-ban-sao", "sao y": "chung-thuc-ban-sao", "bang lai": "doi-gplx",
                "gplx": "doi-gplx", "giay xac nhan doc than": "xac-nhan-hon-nhan", "cccd": "can-cuoc",
                "can cuoc cong dan": "can-cuoc", "lam can cuoc": "can-cuoc", "giay phep xay dung": "giay-phep-xay-dung",
                "lltp": "ly-lich-tu-phap", "hkd": "ho-kinh-doanh", "khai tu": "khai-tu", "ket hon": "ket-hon",
                "tam tru": "tam-tru", "khai sinh": "khai-sinh"}
    for phrase, pid in expected.items():
        assert phrases.get(phrase) == pid, phrase
    for p in catalogue.all():  # name, short name and id name their own procedure
        assert phrases[fold(p.short_name)] == p.id
        assert phrases[p.id.replace("-", " ")] == p.id


@pytest.mark.parametrize("text, expected", [
    ("làm hộ chiếu", "ho-chieu"),
    ("lam ho chieu", "ho-chieu"),
    ("e mun lm hc thì cần j", "ho-chieu"),
    ("dang ky tam tru", "tam-tru"),
    ("đăng ký tạm trú cho người thuê trọ", "tam-tru"),
    ("dk tam tru", "tam-tru"),
    ("giấy khai sinh cho con", "khai-sinh"),
    ("giay khai sinh cho con", "khai-sinh"),
    ("nhập khẩu cho con", "thuong-tru"),
    ("công chứng giấy tờ", "chung-thuc-ban-sao"),
    ("đổi bằng lái xe", "doi-gplx"),
    ("xin giấy xác nhận độc thân để đăng ký kết hôn", "xac-nhan-hon-nhan"),
    ("đăng ký kết hôn", "ket-hon"),
    ("lam cccd", "can-cuoc"),
    ("ly lich tu phap so 2", "ly-lich-tu-phap"),
    ("xin phép xây nhà", "giay-phep-xay-dung"),
    ("mở hộ kinh doanh", "ho-kinh-doanh"),
    ("giấy báo tử của bố", "khai-tu"),
])
def test_search_ranks_the_obvious_procedure_first(catalogue, text, expected):
    results = catalogue.search(text)
    assert results, text
    assert results[0][0].id == expected, [(p.id, s) for p, s in results]


def test_search_results_are_ordered_limited_and_empty_for_unrelated_text(catalogue):
    results = catalogue.search("giấy tờ tạm trú thường trú hộ khẩu", limit=2)
    assert len(results) == 2
    assert results[0][1] >= results[1][1]
    assert catalogue.search("hôm nay trời đẹp quá") == []
    assert catalogue.search("") == [] and catalogue.search("   ") == []
    assert catalogue.search("hộ chiếu", limit=0) == []


def test_search_with_and_without_diacritics_agree(catalogue):
    for text, plain in [("hộ chiếu", "ho chieu"), ("lý lịch tư pháp", "ly lich tu phap"), ("đổi bằng lái", "doi bang lai")]:
        assert [p.id for p, _ in catalogue.search(text)] == [p.id for p, _ in catalogue.search(plain)]


def test_search_can_be_called_from_other_threads(catalogue):
    catalogue.search("hộ chiếu")  # the index is built in this thread
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda text: catalogue.search(text)[0][0].id, ["hộ chiếu", "tạm trú"] * 4))
    assert found == ["ho-chieu", "tam-tru"] * 4


def test_build_database_writes_a_searchable_file(catalogue, tmp_path):
    path = tmp_path / "catalogue.db"
    db = build_database(catalogue, path)
    assert path.exists()
    assert db["procedures"].count == 13
    assert db["aliases"].count == len(catalogue.alias_phrases())
    hits = [row["id"] for row in db["procedures"].search('"ho chieu"')]
    assert hits[0] == "ho-chieu"
    build_database(catalogue, path)  # rebuilding replaces the tables
    assert db["procedures"].count == 13


# --- facts that must be current (reference section 4) ------------------------------------------

DISTRICT = re.compile(r"\b(cấp huyện|quận|huyện|thị xã|thị trấn|phòng tư pháp|phòng tài chính)\b", re.IGNORECASE)


def citizen_texts(p: Procedure) -> list[str]:
    """Everything the bot may show as who handles the procedure and how."""
    texts = [p.agency, p.submit.where, p.subjects, p.result, p.conditions, *p.steps]
    texts += [f"{c.duration} {c.fee} {c.description}" for c in p.channels]
    texts += [f"{g.case} {i.name} {i.note}" for g in p.papers for i in g.items]
    return texts


def test_no_district_level_agency_after_july_2025(catalogue):
    for p in catalogue.all():
        assert set(p.level) <= {"bo", "tinh", "xa"}
        for text in citizen_texts(p):
            assert not DISTRICT.search(text), (p.id, text)


def test_judicial_record_and_driving_licence_are_police_matters(catalogue):
    lltp, gplx = catalogue.get("ly-lich-tu-phap"), catalogue.get("doi-gplx")
    assert "Công an" in lltp.agency and "Công an" in lltp.submit.where
    assert not re.search(r"Sở Tư pháp", lltp.agency + lltp.submit.where)
    assert "Công an" in gplx.agency
    assert not re.search(r"Sở Giao thông|Sở GTVT", gplx.agency + gplx.submit.where)
    assert catalogue.get("giay-phep-xay-dung").agency.startswith("Ủy ban nhân dân cấp xã")


@pytest.mark.parametrize("pid, method, fee_vnd", [
    ("ho-chieu", "truc_tiep", 200000), ("ho-chieu", "truc_tuyen", 200000),
    ("thuong-tru", "truc_tiep", 20000), ("thuong-tru", "truc_tuyen", 10000),
    ("tam-tru", "truc_tiep", 15000), ("tam-tru", "truc_tuyen", 7000),
    ("khai-sinh", "truc_tiep", 0), ("khai-sinh", "truc_tuyen", 0), ("ket-hon", "truc_tiep", 0),
    ("khai-tu", "truc_tiep", 0), ("ly-lich-tu-phap", "truc_tiep", 200000),
    ("chung-thuc-ban-sao", "truc_tiep", 2000),
])
def test_key_2026_fees(catalogue, pid, method, fee_vnd):
    assert catalogue.get(pid).channel(method).fee_vnd == fee_vnd


def test_fee_texts_that_need_more_than_one_number(catalogue):
    assert "400.000" in catalogue.get("ho-chieu").channel("truc_tiep").fee
    id_card = catalogue.get("can-cuoc").fee_summary()
    assert "50.000" in id_card and "70.000" in id_card
    copy = catalogue.get("chung-thuc-ban-sao").fee_summary()
    assert "2.000 đồng/trang" in copy and "1.000 đồng/trang" in copy and "200.000 đồng/bản" in copy


def test_no_expired_online_discounts(catalogue):
    for p in catalogue.all():
        for c in p.channels:
            assert not re.search(r"\b(180\.000|360\.000|25\.000|35\.000|115\.000) đồng|giảm 50%", c.fee), (p.id, c.fee)
        assert not re.search(r"mức độ [34]", " ".join(citizen_texts(p)), re.IGNORECASE), p.id


def test_values_the_reference_does_not_confirm_are_marked_unverified(catalogue):
    expected = {
        "ho-chieu": {"code"},
        "can-cuoc": {"fee"},  # 30.000 đ rate for CCCD → thẻ căn cước not confirmed
        "ly-lich-tu-phap": {"fee"},
        "ho-kinh-doanh": {"code", "agency"},
        "giay-phep-xay-dung": {"code"},
        "doi-gplx": {"fee", "duration"},
        "xac-nhan-hon-nhan": {"code"},
    }
    for pid, fields in expected.items():
        assert fields <= set(catalogue.get(pid).unverified), pid
    # the national database (2026-07) has it: 3.000347 "Đổi giấy phép lái xe"
    assert catalogue.get("doi-gplx").code == "3.000347" and "code" not in catalogue.get("doi-gplx").unverified


def test_id_card_procedure_uses_the_2024_law(catalogue):
    id_card = catalogue.get("can-cuoc")
    assert "thẻ căn cước" in id_card.name and "công dân" not in id_card.name.lower()
    assert "26/2023/QH15" in [d.number for d in id_card.legal_basis]

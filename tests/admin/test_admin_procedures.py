"""Staff tools, procedures: the API over a copy of the catalogue (``PROCEDURES_DIR`` in a tmp dir),
the YAML written back, the versions, and the change seen by the live catalogue, the actions and
the NLU component with no restart."""

from __future__ import annotations

import contextlib
import copy
import re
import shutil

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa_sdk.executor import CollectingDispatcher

from actions.procedures import ActionAnswerProcedure
from bot.nlu.components import ProcedureMatcher
from bot.nlu.matching import default_index
from bot.vntext import normalize
from procedures import editing, loading
from procedures.loading import DEFAULT_DIRECTORY, default_catalogue
from tests.conftest import make_tracker
from tests.test_browser import browser  # noqa: F401  (the browser fixture)

API = "/admin/api/procedures"
NEW_ALIAS = "cuốn sổ xanh xuất ngoại"  # names no procedure, and the retrieval finds none for it


@pytest.fixture
def catalogue_dir(tmp_path, monkeypatch):
    """A copy of procedures/catalogue that the live catalogue and the editor use."""
    directory = tmp_path / "catalogue"
    shutil.copytree(DEFAULT_DIRECTORY, directory)
    monkeypatch.setenv(loading.DIRECTORY_VARIABLE, str(directory))
    yield directory
    monkeypatch.delenv(loading.DIRECTORY_VARIABLE)
    default_catalogue().current()  # back to the repository's catalogue for the next tests


@pytest.fixture
def staff(login, catalogue_dir):
    return login("staff")


def passport(staff) -> dict:
    response = staff.get(f"{API}/ho-chieu")
    assert response.status_code == 200, response.text
    return response.json()


def with_fee(record: dict, fee_vnd, fee: str = "250.000 đồng/lần cấp mới") -> dict:
    record = copy.deepcopy(record)
    for channel in record["channels"]:
        channel["fee_vnd"], channel["fee"] = fee_vnd, fee
    return record


def nlu_ids(matcher: ProcedureMatcher, text: str) -> list:
    message = Message(data={"text": normalize(text), "intent": {"name": "ask_papers"}, "entities": []})
    matcher.process([message])
    return [e["value"] for e in message.get("entities") if e["entity"] == "procedure"]


# --- access ----------------------------------------------------------------------------------

ROUTES = [("GET", API), ("GET", f"{API}/ho-chieu"), ("GET", f"{API}/ho-chieu/yaml"),
          ("GET", f"{API}/ho-chieu/versions"), ("PUT", f"{API}/ho-chieu"), ("POST", API),
          ("POST", f"{API}/parse")]


@pytest.mark.parametrize("role", ["volunteer", "supervisor"])
def test_volunteers_and_supervisors_get_403_on_every_procedure_route(login, catalogue_dir, role):
    person = login(role)
    original = (catalogue_dir / "ho-chieu.yml").read_bytes()
    for method, path in ROUTES:
        response = person.send(method, path, {"id": "ho-chieu"} if method != "GET" else None)
        assert response.status_code == 403, (method, path, response.text)
        assert "quyền" in response.json()["error"]
    assert (catalogue_dir / "ho-chieu.yml").read_bytes() == original


def test_without_login_401_and_without_csrf_403(login, staff, catalogue_dir):
    assert login(None).get(API).status_code == 401
    response = staff.put(f"{API}/ho-chieu", passport(staff), csrf=False)
    assert response.status_code == 403


# --- reading ---------------------------------------------------------------------------------

def test_the_list_holds_hand_written_and_imported_records_unverified_and_oldest_first(staff):
    data = staff.get(f"{API}?limit=200").json()
    assert data["total"] > 2000 and len(data["items"]) == 200
    items = data["items"]
    assert {"id", "code", "name", "checked_on", "unverified", "imported"} <= set(items[0])
    keys = [(not i["unverified"], i["checked_on"]) for i in items]
    assert keys == sorted(keys) and items[0]["unverified"]
    hand = staff.get(f"{API}?source=hand_written&limit=200").json()
    assert hand["total"] == 13 and not any(i["imported"] for i in hand["items"])
    hand_keys = [(not i["unverified"], i["checked_on"], i["id"]) for i in hand["items"]]
    assert hand_keys == sorted(hand_keys) and hand["items"][-1]["unverified"] == []  # verified ones last
    page = staff.get(f"{API}?source=hand_written&limit=3&offset=3").json()
    assert [i["id"] for i in page["items"]] == [i["id"] for i in hand["items"][3:6]]


def test_search_finds_by_name_without_diacritics_and_by_code(staff):
    found = staff.get(f"{API}", params={"q": "ho chieu"}).json()["items"]
    assert found[0]["id"] == "ho-chieu" or "ho-chieu" in [i["id"] for i in found]
    assert [i["id"] for i in staff.get(API, params={"q": "1.001456"}).json()["items"]] == ["ho-chieu"]


def test_a_record_reads_with_the_yaml_field_names(staff, catalogue_dir):
    record = passport(staff)
    assert list(record)[:3] == ["id", "code", "name"]
    assert record["channels"][0]["fee_vnd"] == 200000 and record["checked_on"] == "2026-11-23"
    assert record["unverified"] == ["code", "steps", "submit"]
    source = staff.get(f"{API}/ho-chieu/yaml").json()
    assert source["yaml"] == (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
    assert source["imported"] is False


@pytest.mark.parametrize("path", [f"{API}/khong-co-thu-tuc-nay", f"{API}/KHÔNG HỢP LỆ", f"{API}/x/yaml"])
def test_an_unknown_id_is_a_polite_404(staff, path):
    response = staff.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "Không tìm thấy thủ tục này."


@pytest.mark.parametrize("query", ["limit=abc", "offset=-1", "limit=1.5", "source=khac"])
def test_bad_list_parameters_are_400(staff, query):
    response = staff.get(f"{API}?{query}")
    assert response.status_code == 400 and response.json()["error"]


# --- refusing --------------------------------------------------------------------------------

def test_an_invalid_fee_is_refused_naming_the_field_and_nothing_is_written(staff, catalogue_dir):
    original = (catalogue_dir / "ho-chieu.yml").read_bytes()
    response = staff.put(f"{API}/ho-chieu", with_fee(passport(staff), "250 nghìn"))
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "channels[0].fee_vnd"
    assert body["error"] == "Trường “channels[0].fee_vnd”: phải là một số nguyên (ví dụ 200000) hoặc null."
    assert (catalogue_dir / "ho-chieu.yml").read_bytes() == original
    assert sorted(p.name for p in catalogue_dir.iterdir()) == sorted(p.name for p in DEFAULT_DIRECTORY.iterdir())
    assert staff.get(f"{API}/ho-chieu/versions").json() == {"versions": []}
    assert default_catalogue().get("ho-chieu").channels[0].fee_vnd == 200000


@pytest.mark.parametrize("change, field", [
    (lambda r: r["channels"][1].update(fee_vnd=-5), "channels[1].fee_vnd"),
    (lambda r: r.update(checked_on="23/11/2026"), "checked_on"),
    (lambda r: r.update(colour="đỏ"), "colour"),
    (lambda r: r.pop("agency"), "agency"),
    (lambda r: r.update(aliases=["hộ chiếu", "khai sinh"]), "aliases[1]"),  # names another procedure
    (lambda r: r.update(id="ho-chieu-2"), "id"),
    (lambda r: r["submit"].update(post=True), "submit.post"),
    (lambda r: r.update(covers=["1.001471", "1001471"]), "covers[1]"),
    (lambda r: r.update(covers=["1.001456"]), "covers"),  # its own code
])
def test_the_loader_rules_apply_and_name_the_field(staff, catalogue_dir, change, field):
    record = passport(staff)
    change(record)
    response = staff.put(f"{API}/ho-chieu", record)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and response.json()["error"].startswith(f"Trường “{field}”")
    assert "must" not in response.json()["error"]  # the schema's English is translated for staff
    assert not list(catalogue_dir.glob(".*"))  # no temporary file left


@pytest.mark.parametrize("send", [
    lambda b: b.client.put(f"{API}/ho-chieu", content=b"id: ho-chieu", headers={"X-CSRF-Token": b.csrf,
                                                                               "Content-Type": "text/plain"}),
    lambda b: b.client.put(f"{API}/ho-chieu", content=b"{not json", headers={"X-CSRF-Token": b.csrf,
                                                                             "Content-Type": "application/json"}),
    lambda b: b.put(f"{API}/ho-chieu", ["id", "ho-chieu"]),
    lambda b: b.put(f"{API}/ho-chieu", "ho-chieu"),
    lambda b: b.post(API, {"name": "thiếu id"}),
    lambda b: b.post(API, [1, 2]),
    lambda b: b.post(f"{API}/parse", {"yaml": 5}),
    lambda b: b.post(f"{API}/parse", {"yaml": "id: a\nid: b\n"}),
    lambda b: b.post(f"{API}/parse", {"yaml": "a: &x [1]\nb: *x\n"}),
    lambda b: b.put(f"{API}/Hộ Chiếu", {"id": "Hộ Chiếu"}),
])
def test_bad_input_gets_a_polite_vietnamese_4xx(staff, send):
    response = send(staff)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert any(ch in error for ch in "ảạắằẳẵặấầẩẫậđếềểễệịọốồổỗộớờởỡợụứừửữựỳỹ"), error


# --- saving ----------------------------------------------------------------------------------

async def test_a_valid_edit_writes_the_yaml_versions_it_and_changes_the_answer(staff, catalogue_dir, domain):
    before = default_catalogue().get("ho-chieu")
    assert before.channels[0].fee_vnd == 200000
    response = staff.put(f"{API}/ho-chieu", with_fee(passport(staff), 250000))
    assert response.status_code == 200, response.text
    assert response.json()["message"].startswith("Đã áp dụng")
    text = (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
    assert "fee_vnd: 250000" in text and "fee_vnd: 200000" not in text
    assert loading.load_catalogue(catalogue_dir).get("ho-chieu").channels[1].fee == "250.000 đồng/lần cấp mới"

    versions = staff.get(f"{API}/ho-chieu/versions").json()["versions"]
    assert len(versions) == 1 and versions[0]["author"] == "thu.canbo" and versions[0]["action"] == "edited"
    diff = versions[0]["diff"]
    assert "-    fee_vnd: 200000\n" in diff and "+    fee_vnd: 250000\n" in diff
    assert diff.count("\n-") == 4 and "aliases" not in diff  # only the changed lines, with context

    assert default_catalogue().get("ho-chieu").channels[0].fee_vnd == 250000  # the live catalogue
    dispatcher = CollectingDispatcher()
    await ActionAnswerProcedure().run(dispatcher, make_tracker("ask_fee", "thế còn lệ phí?",
                                                               slots={"procedure": "ho-chieu"}), domain)
    assert "250.000" in dispatcher.messages[0]["text"] and "200.000" not in dispatcher.messages[0]["text"]


def test_a_new_alias_is_recognised_by_the_running_nlu_component_at_once(staff):
    matcher = ProcedureMatcher({"fuzzy": False, "retrieval": False})  # one instance, as in the Rasa process
    index = default_index()
    assert nlu_ids(matcher, f"cho hỏi làm {NEW_ALIAS}") == [] and index.find(NEW_ALIAS) == []
    record = passport(staff)
    record["aliases"].append(NEW_ALIAS)
    assert staff.put(f"{API}/ho-chieu", record).status_code == 200
    assert nlu_ids(matcher, f"cho hỏi làm {NEW_ALIAS}") == ["ho-chieu"]
    assert nlu_ids(matcher, "cho hoi lam cuon so xanh xuat ngoai") == ["ho-chieu"]  # no diacritics
    assert [m.procedure_id for m in index.find(NEW_ALIAS)] == ["ho-chieu"]


def test_the_retrieval_of_a_running_component_follows_the_edit(staff):
    matcher = ProcedureMatcher({"fuzzy": True, "retrieval": True})
    retriever = matcher.retriever  # kept by the component for the life of the process
    assert retriever.find("thủ tục cấp thẻ xanh lá cho người nuôi ong").procedure is None
    record = passport(staff)
    record["aliases"].append("thẻ xanh lá cho người nuôi ong")
    assert staff.put(f"{API}/ho-chieu", record).status_code == 200
    assert retriever.find("thủ tục cấp thẻ xanh lá cho người nuôi ong").procedure.id == "ho-chieu"


def test_covers_set_from_the_editor_leads_the_retrieval_to_the_checked_record(staff, catalogue_dir):
    from procedures import default_catalogue

    question = "trình báo mất hộ chiếu phổ thông ở công an xã"
    assert default_catalogue().retriever.find(question).procedure.id != "ho-chieu"
    record = passport(staff)
    record["covers"] = [*record.get("covers", []), "1.010386"]  # "Trình báo mất hộ chiếu phổ thông (cấp xã)"
    assert staff.put(f"{API}/ho-chieu", record).status_code == 200
    assert '  - "1.010386"' in (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
    assert "tthc-1-010386" not in default_catalogue()
    assert default_catalogue().retriever.find(question).procedure.id == "ho-chieu"


def test_saving_the_same_record_changes_nothing(staff, catalogue_dir):
    response = staff.put(f"{API}/ho-chieu", passport(staff))
    assert response.status_code == 200 and response.json()["message"].startswith("Không có thay đổi")
    assert (catalogue_dir / "ho-chieu.yml").read_bytes() == (DEFAULT_DIRECTORY / "ho-chieu.yml").read_bytes()
    assert staff.get(f"{API}/ho-chieu/versions").json()["versions"] == []


def test_two_staff_editing_one_record_the_second_save_is_refused_not_overwritten(login, catalogue_dir):
    """Both open the passport (its ETag), the first saves; the second's save with If-Match is refused
    (412, in Vietnamese) and the file keeps the first's change; a save without If-Match still wins."""
    first, second = login("staff"), login("admin")
    opened = first.get(f"{API}/ho-chieu")
    tag = opened.headers["ETag"]
    assert second.get(f"{API}/ho-chieu/yaml").json()["etag"] == tag.strip('"')
    one = {**opened.json(), "checked_on": "2026-12-01"}
    two = {**opened.json(), "checked_on": "2026-11-30"}
    saved = first.send("PUT", f"{API}/ho-chieu", one, headers={"If-Match": tag})
    assert saved.status_code == 200, saved.text
    new_tag = first.get(f"{API}/ho-chieu").headers["ETag"]
    assert new_tag != tag
    refused = second.send("PUT", f"{API}/ho-chieu", two, headers={"If-Match": tag})
    assert refused.status_code == 412 and "người khác sửa" in refused.json()["error"]
    text = (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
    assert "2026-12-01" in text and "2026-11-30" not in text
    assert len(first.get(f"{API}/ho-chieu/versions").json()["versions"]) == 1
    assert second.send("PUT", f"{API}/ho-chieu", two, headers={"If-Match": new_tag}).status_code == 200
    assert second.send("PUT", f"{API}/ho-chieu", one).status_code == 200   # no If-Match: the last save wins
    assert "2026-12-01" in (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")


def imported_item(staff) -> dict:
    """An imported record whose only problem for the loader is that it has no alias yet."""
    for item in staff.get(f"{API}?source=imported&limit=200").json()["items"]:
        record = {**editing.to_record(default_catalogue().get(item["id"])), "aliases": ["một tên gọi"]}
        try:
            editing.validate(item["id"], record, [])
        except editing.EditError:
            continue
        return item
    raise AssertionError("no editable imported record")


def test_editing_an_imported_record_writes_a_hand_checked_file_that_wins(staff, catalogue_dir):
    item = imported_item(staff)
    pid = item["id"]
    record = staff.get(f"{API}/{pid}").json()
    assert record["aliases"] == [] and staff.get(f"{API}/{pid}/yaml").json()["imported"] is True
    response = staff.put(f"{API}/{pid}", record)
    assert response.status_code == 400 and response.json()["field"] == "aliases"
    record.update(aliases=["thủ tục thử nghiệm của phường"], checked_on="2026-12-03", unverified=[])
    response = staff.put(f"{API}/{pid}", record)
    assert response.status_code == 200, response.text
    saved = loading.load_catalogue(catalogue_dir).get(pid)
    assert saved.code == item["code"] and saved.unverified == ()
    catalogue = default_catalogue().current()
    assert not catalogue.is_imported(pid) and catalogue.get(pid).aliases == ("thủ tục thử nghiệm của phường",)
    assert [p.id for p in catalogue if p.code == item["code"]] == [pid]  # no second record for the code
    assert staff.get(f"{API}/{pid}/versions").json()["versions"][0]["action"] == "from_import"


def test_a_new_procedure_is_added_with_post_and_with_put(staff, catalogue_dir):
    record = passport(staff)
    record.update(id="ho-chieu-cong-vu", code=None, name="Cấp hộ chiếu công vụ (thử)",
                  short_name="làm hộ chiếu công vụ", aliases=["hộ chiếu công vụ"])
    response = staff.post(API, record)
    assert response.status_code == 201, response.text
    assert (catalogue_dir / "ho-chieu-cong-vu.yml").exists()
    assert staff.post(API, record).status_code == 409
    assert default_catalogue().get("ho-chieu-cong-vu").name == "Cấp hộ chiếu công vụ (thử)"
    assert [m.procedure_id for m in default_index().find("hộ chiếu công vụ")] == ["ho-chieu-cong-vu"]
    record.update(id="ho-chieu-ngoai-giao", name="Cấp hộ chiếu ngoại giao (thử)",
                  short_name="làm hộ chiếu ngoại giao", aliases=["hộ chiếu ngoại giao"])
    assert staff.put(f"{API}/ho-chieu-ngoai-giao", record).status_code == 200
    assert staff.get(f"{API}/ho-chieu-ngoai-giao/versions").json()["versions"][0]["action"] == "created"


def test_a_duplicate_key_in_the_yaml_is_named_with_its_line(staff):
    response = staff.post(f"{API}/parse", {"yaml": "id: a\nname: b\nid: c\n"})
    assert response.status_code == 400 and response.json()["field"] == "yaml"
    assert response.json()["error"] == "YAML không đọc được ở dòng 3, cột 1: khóa 'id' bị lặp lại."


def test_the_page_editor_reads_yaml_like_the_loader(staff):
    text = staff.get(f"{API}/ho-chieu/yaml").json()["yaml"]
    response = staff.post(f"{API}/parse", {"yaml": text.replace("fee_vnd: 200000", "fee_vnd: 210000", 1)})
    assert response.status_code == 200
    record = response.json()["record"]
    assert record["channels"][0]["fee_vnd"] == 210000 and record["checked_on"] == "2026-11-23"
    assert staff.put(f"{API}/ho-chieu", record).status_code == 200


# --- the library -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(DEFAULT_DIRECTORY.glob("*.yml")), ids=lambda p: p.name)
def test_records_are_written_in_the_layout_of_the_files(path):
    """A save that changes one field changes one line in git, not the whole file."""
    assert editing.dump_yaml(loading._load_file(path)) == path.read_text(encoding="utf-8")


def test_the_live_catalogue_keeps_the_last_good_version_when_a_file_breaks(catalogue_dir):
    assert default_catalogue().get("ho-chieu").channels[0].fee_vnd == 200000
    good = (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
    # In-place writes (a hand edit) leave the directory's mtime alone: seen at the next full check.
    import time

    from procedures import loading

    live = default_catalogue()
    generation = live.generation
    (catalogue_dir / "ho-chieu.yml").write_text(good.replace("fee_vnd: 200000", "fee_vnd: nhiều"), encoding="utf-8")
    time.sleep(loading.FULL_CHECK_SECONDS + 0.05)
    assert live.get("ho-chieu").channels[0].fee_vnd == 200000  # still answering
    assert live.generation == generation and live._signature == loading.catalogue_signature()  # tried, refused
    (catalogue_dir / "ho-chieu.yml").write_text(good.replace("fee_vnd: 200000", "fee_vnd: 1", 1), encoding="utf-8")
    deadline = time.monotonic() + loading.FULL_CHECK_SECONDS + 1
    while live.get("ho-chieu").channels[0].fee_vnd != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.get("ho-chieu").channels[0].fee_vnd == 1


def test_a_file_renamed_over_is_seen_at_once(catalogue_dir):
    from procedures.editing import _atomic_write

    live = default_catalogue()
    assert live.get("ho-chieu").channels[0].fee_vnd == 200000
    good = (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
    _atomic_write(catalogue_dir / "ho-chieu.yml", good.replace("fee_vnd: 200000", "fee_vnd: 2", 1))
    assert live.get("ho-chieu").channels[0].fee_vnd == 2  # the directory's mtime changed: no wait


# --- the page in a real browser, and the running stack -------------------------------------------

def set_yaml(page, text: str) -> None:
    page.locator("#proc-yaml").fill(text)


@contextlib.contextmanager
def staff_page(browser, config):
    """The staff page of an app served on loopback, logged in as a staff member: (page, page errors)."""
    from bot.app import create_app
    from tests.admin.conftest import PASSWORD, USERS
    from tests.webchat import AppServer

    with AppServer(create_app(config)) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        page.goto("/admin")
        page.locator("#login-username").fill(USERS["staff"])
        page.locator("#login-password").fill(PASSWORD)
        page.locator("#login-submit").click()
        try:
            yield page, errors
        finally:
            context.close()


def test_staff_edit_a_procedure_on_the_page(browser, admin_config, catalogue_dir):  # noqa: F811
    from playwright.sync_api import expect

    with staff_page(browser, admin_config) as (page, errors):
        expect(page.locator(".proc__row--unverified").first).to_be_visible(timeout=15_000)
        expect(page.locator(".proc__row").first).to_contain_text("⚠")
        page.locator("#proc-q").fill("ho chieu")
        page.get_by_role("button", name="Tìm").click()
        page.get_by_role("link", name="Cấp hộ chiếu phổ thông ở trong nước", exact=True).click()
        expect(page.locator("#proc-form")).to_be_visible(timeout=10_000)   # the form is the default
        page.locator("#proc-mode-yaml").click()
        expect(page.locator("#proc-yaml")).to_have_value(
            (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8"), timeout=10_000)
        expect(page.locator(".proc__summary")).to_contain_text("200.000 đồng")
        original = page.locator("#proc-yaml").input_value()

        set_yaml(page, original.replace("fee_vnd: 200000", "fee_vnd: hai trăm nghìn", 1))
        page.locator("#proc-apply").click()
        expect(page.locator("#admin-error")).to_contain_text("channels[0].fee_vnd", timeout=10_000)
        expect(page.locator("#proc-field")).to_contain_text("channels[0].fee_vnd")
        assert (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8") == original

        set_yaml(page, original.replace("fee_vnd: 200000", "fee_vnd: 250000").replace("200.000 đồng", "250.000 đồng"))
        page.locator("#proc-apply").click()
        expect(page.locator("#admin-notice")).to_contain_text("Đã áp dụng", timeout=10_000)
        expect(page.locator(".proc__summary")).to_contain_text("250.000 đồng", timeout=10_000)
        expect(page.locator(".proc__history details")).to_have_count(1)
        page.locator(".proc__history summary").click()
        expect(page.locator(".proc__diff")).to_contain_text("+    fee_vnd: 250000")
        assert "fee_vnd: 250000" in (catalogue_dir / "ho-chieu.yml").read_text(encoding="utf-8")
        assert default_catalogue().get("ho-chieu").channels[0].fee_vnd == 250000
        assert errors == []


def test_staff_edit_a_procedure_in_the_form(browser, admin_config, catalogue_dir):  # noqa: F811
    """The form (no YAML): an invalid fee is refused with its field named and marked, a valid one and a
    new alias are saved as a one-field change of the file and are live at once."""
    import difflib

    from playwright.sync_api import expect

    path = catalogue_dir / "ho-chieu.yml"
    original = path.read_text(encoding="utf-8")
    with staff_page(browser, admin_config) as (page, errors):
        page.locator("#proc-q").fill("ho chieu")
        page.get_by_role("button", name="Tìm").click()
        page.get_by_role("link", name="Cấp hộ chiếu phổ thông ở trong nước", exact=True).click(timeout=60_000)
        fee = page.locator('#proc-form [data-path="channels[0].fee_vnd"]')
        expect(fee).to_have_value("200000", timeout=10_000)
        expect(page.get_by_label("Lệ phí (số đồng; để trống nếu không xác định)").first).to_have_value("200000")
        expect(page.locator('#proc-form [data-path="papers[0].items[0].name"]')).not_to_have_value("")

        fee.fill("hai trăm nghìn")
        page.locator("#proc-apply").click()
        expect(page.locator("#admin-error")).to_contain_text("channels[0].fee_vnd", timeout=10_000)
        expect(fee).to_have_class(re.compile(r"field--error"))
        expect(page.locator("#proc-form .pform__error")).to_contain_text("channels[0].fee_vnd")
        assert path.read_text(encoding="utf-8") == original

        fee.fill("250000")
        page.get_by_role("button", name="Thêm tên gọi (Tên gọi người dân hay dùng)").click()
        aliases = page.locator('#proc-form [data-path^="aliases["]')
        aliases.last.fill("cuốn sổ xuất ngoại")
        page.locator("#proc-apply").click()
        expect(page.locator("#admin-notice")).to_contain_text("Đã áp dụng", timeout=10_000)
        saved = path.read_text(encoding="utf-8")
        changed = [line for line in difflib.unified_diff(original.splitlines(), saved.splitlines(), lineterm="", n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert sorted(changed) == sorted(["-    fee_vnd: 200000", "+    fee_vnd: 250000",
                                          "+  - cuốn sổ xuất ngoại"]), changed
        live = default_catalogue()
        assert live.get("ho-chieu").channels[0].fee_vnd == 250000
        assert "cuốn sổ xuất ngoại" in live.get("ho-chieu").aliases
        # the editor reopens on the saved record, in the form
        expect(page.locator('#proc-form [data-path="channels[0].fee_vnd"]')).to_have_value("250000", timeout=10_000)
        assert errors == []


def test_the_form_saves_every_record_unchanged_when_nothing_was_edited(browser, admin_config, catalogue_dir):  # noqa: F811
    """Every hand-written record read into the form and applied as it is writes the same file: the form
    loses no field, no null, no number and no order."""
    from playwright.sync_api import expect

    files = {p.stem: p.read_text(encoding="utf-8") for p in sorted(catalogue_dir.glob("*.yml"))}
    assert len(files) == 13
    with staff_page(browser, admin_config) as (page, errors):
        page.locator("#proc-source").select_option("hand_written")
        page.get_by_role("button", name="Tìm").click()
        expect(page.locator(".proc__row")).to_have_count(13, timeout=60_000)
        for pid in files:
            page.locator(".proc__row", has_text=pid).locator(".proc__open").click()
            expect(page.locator('#proc-form [data-path="id"]')).to_have_value(pid, timeout=10_000)
            page.locator("#proc-apply").click()
            # the server compares the record with the one in use
            expect(page.locator("#admin-notice")).to_contain_text("Không có thay đổi nào", timeout=10_000)
            assert (catalogue_dir / f"{pid}.yml").read_text(encoding="utf-8") == files[pid], pid
            page.evaluate("document.getElementById('admin-notice').textContent = ''")
        assert errors == []


def test_staff_add_a_procedure_in_the_form(browser, admin_config, catalogue_dir):  # noqa: F811
    """"Thêm thủ tục mới" opens the form on the template; filled in and applied, it is a new record file."""
    from playwright.sync_api import expect

    with staff_page(browser, admin_config) as (page, errors):
        page.get_by_role("button", name="Thêm thủ tục mới").click()
        form = page.locator("#proc-form")
        expect(form.locator('[data-path="id"]')).to_have_value("ma-thu-tuc-moi", timeout=10_000)
        form.locator('[data-path="id"]').fill("cap-ban-sao-trich-luc")
        form.locator('[data-path="name"]').fill("Cấp bản sao trích lục hộ tịch")
        form.locator('[data-path="short_name"]').fill("xin bản sao trích lục")
        form.locator('[data-path="aliases[0]"]').fill("bản sao trích lục hộ tịch")
        form.locator('[data-path="channels[0].fee_vnd"]').fill("8000")
        form.locator('[data-path="channels[0].fee"]').fill("8.000 đồng/bản sao")
        page.locator("#proc-apply").click()
        expect(page.locator("#admin-notice")).to_contain_text("Đã", timeout=10_000)
        written = (catalogue_dir / "cap-ban-sao-trich-luc.yml").read_text(encoding="utf-8")
        assert "name: Cấp bản sao trích lục hộ tịch" in written and "fee_vnd: 8000" in written
        assert default_catalogue().get("cap-ban-sao-trich-luc").channels[0].fee_vnd == 8000
        assert errors == []


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    """The three processes with their own copy of the catalogue (``PROCEDURES_DIR``: the shared ``stack``
    answers from the repository's) and a staff account. Uses the trained model; never trains one."""
    from argon2 import PasswordHasher

    from bot.accounts import AccountStore
    from bot.processes import Stack
    from bot.training import MODEL, STAMP, inputs_hash
    from tests.admin.conftest import PASSWORD, USERS
    from tests.conftest import stack_settings

    if not (MODEL.exists() and STAMP.exists() and STAMP.read_text() == inputs_hash()):
        pytest.skip("the model is not trained from the current data (make model)")
    model_path = MODEL

    directory = tmp_path_factory.mktemp("catalogue") / "catalogue"
    shutil.copytree(DEFAULT_DIRECTORY, directory)
    config = stack_settings(tmp_path_factory.mktemp("stack"), model=model_path)
    accounts = AccountStore.from_settings(config, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts.add(USERS["staff"], PASSWORD, "staff")
    accounts.close()
    env = {loading.DIRECTORY_VARIABLE: str(directory), "RATE_LIMIT_PER_MINUTE": "0",
           "CONVERSATION_RATE_PER_MINUTE": "0", "OFFICE_HOURS": "always"}
    with Stack(config, extra_env=env) as running:
        running.start()
        yield running, directory


@pytest.mark.stack
def test_an_edit_through_the_running_stack_changes_the_bots_answer(own_stack):
    import httpx

    from tests.admin.conftest import PASSWORD, USERS
    from tests.webchat import ask_new_conversation

    running, directory = own_stack
    base = running.base_url

    def ask(text: str, attempts: int = 1) -> str:
        return ask_new_conversation(base, text, attempts=attempts, timeout=60)

    # The first turn of a fresh stack loads the catalogue and the retrieval index in Rasa (and
    # TensorFlow's first run): on a loaded 2-core machine it can exceed RASA_TIMEOUT.
    ask("lệ phí làm hộ chiếu bao nhiêu", attempts=5)

    assert "200.000" in ask("lệ phí làm hộ chiếu bao nhiêu")
    assert "200.000" not in ask(f"lệ phí làm {NEW_ALIAS} bao nhiêu")
    with httpx.Client(base_url=base, timeout=60) as staff:
        login = staff.post("/api/auth/login", json={"username": USERS["staff"], "password": PASSWORD})
        assert login.status_code == 200, login.text
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        record = staff.get(f"{API}/ho-chieu").json()
        record = with_fee(record, 250000, "250.000 đồng/lần cấp mới")
        record["aliases"].append(NEW_ALIAS)
        assert staff.put(f"{API}/ho-chieu", json=record, headers=csrf).status_code == 200
    assert "fee_vnd: 250000" in (directory / "ho-chieu.yml").read_text(encoding="utf-8")
    answer = ask("lệ phí làm hộ chiếu bao nhiêu")
    assert "250.000" in answer and "200.000" not in answer   # the action server reloaded
    assert "250.000" in ask(f"lệ phí làm {NEW_ALIAS} bao nhiêu")  # the Rasa process knows the new alias

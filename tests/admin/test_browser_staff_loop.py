"""The staff loop end to end, in a real browser (Debian's chromium via Playwright) on the real
stack (Rasa, the action server, the bot app) with a real retraining (issue 8, "Tests that must
exist", first bullet):

a citizen asks something the bot does not understand well → a staff member logs in at /admin,
opens "Câu chưa hiểu", assigns the right intent → "Huấn luyện" (the active model with a new memory
of the examples, then the held-out evaluation) → the new metrics beside the active model's → "Kích hoạt"
(Rasa's ``PUT /model``) → the bot now answers that message right → "Quay lại" → the old answer.

The stack has its own data directory and its own copy of ``nlu_data/`` (``NLU_DATA_DIR``): the
inbox writes the learned examples there and the training job snapshots it; the repository's
``nlu_data/`` is never written. Rasa starts with the registry's active model, as ``python -m bot
run`` does (``Registry.startup_model``: ``make model``'s model adopted and active), so the new model
is compared with it and "Quay lại" goes back to it.

Slow: the evaluation takes 1–3 minutes on 2 shared cores, and each activation loads a model in
Rasa (up to a few minutes).
"""

from __future__ import annotations

import shutil
import time

import pytest
from playwright.sync_api import expect

from tests.admin.conftest import PASSWORD, USERS
from tests.admin.test_browser_admin_dashboard import LAPTOP, log_in
from tests.test_browser import browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.stack

# A formal, old-fashioned way to take one's leave ("I take my leave"). The model built by `make
# model` has no "cáo" in its data: it answers bot_capabilities with confidence 0.58 (under the
# inbox's LOW_CONFIDENCE 0.6), so the bot shows its menu instead of saying goodbye, and the
# message lands in the inbox as "Trợ lý không chắc" (checked with `python -m bot parse`).
QUESTION = "xin cáo từ"
INTENT = "goodbye"
GOODBYE = "chúc bạn làm thủ tục thuận lợi"      # utter_goodbye (domain.yml)
# The staff member also adds a few phrasings of the same leave-taking on "Ý định & ví dụ" (the
# same page, the same POST /admin/api/examples) before retraining — what staff are told to do for
# an intent the bot keeps missing, so that a later fine-tuning generalises from them ("Huấn luyện"
# itself remembers every example word for word: bot/nlu/memory.py).
MORE_EXAMPLES = ["em xin cáo từ", "xin cáo từ nhé", "dạ xin cáo từ ạ", "thôi xin cáo từ", "xin phép cáo từ",
                 "xin cáo từ, hẹn gặp lại"]
TRAIN_TIMEOUT_MS = 20 * 60_000     # a real fine-tune + two evaluations on a loaded 2-core machine
ACTIVATE_TIMEOUT_MS = 5 * 60_000   # Rasa loads the model (TensorFlow) before it answers PUT /model
UI_TIMEOUT_MS = 30_000


@pytest.fixture
def loop_stack(tmp_path_factory):
    """The three processes with their own data directory and copy of ``nlu_data/``, a staff
    account, and the registry's active model (adopted from ``models/current.tar.gz``)."""
    from argon2 import PasswordHasher

    from bot.accounts import AccountStore
    from bot.model_registry import Registry
    from bot.processes import Stack
    from bot.settings import ROOT
    from bot.training import MODEL, STAMP, inputs_hash
    from tests.conftest import stack_settings

    if not (MODEL.exists() and STAMP.exists() and STAMP.read_text() == inputs_hash()):
        pytest.skip("the model is not trained from the current data (make model)")
    nlu_dir = tmp_path_factory.mktemp("nlu") / "nlu_data"
    shutil.copytree(ROOT / "nlu_data", nlu_dir, ignore=shutil.ignore_patterns("__pycache__"))
    data_dir = tmp_path_factory.mktemp("stack")
    registry = Registry(data_dir)
    model = registry.startup_model(MODEL)   # what `python -m bot run` does: make model's model, active
    config = stack_settings(data_dir, model=model, nlu_data_dir=nlu_dir)
    accounts = AccountStore.from_settings(config, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts.add(USERS["staff"], PASSWORD, "staff")
    accounts.close()
    env = {"NLU_DATA_DIR": str(nlu_dir), "RATE_LIMIT_PER_MINUTE": "0", "CONVERSATION_RATE_PER_MINUTE": "0",
           "OFFICE_HOURS": "always"}
    with Stack(config, extra_env=env) as running:
        running.start()
        yield running, nlu_dir, registry


def ask(base: str, text: str, attempts: int = 5) -> str:
    """A citizen's question in a new web conversation; the bot's replies as one text."""
    from tests.webchat import ask_new_conversation

    return ask_new_conversation(base, text, attempts=attempts)


def test_staff_teach_retrain_activate_and_roll_back(browser, loop_stack, tmp_path):  # noqa: F811
    running, nlu_dir, registry = loop_stack
    base = running.base_url
    started = time.monotonic()
    timings = {}

    def lap(name):
        timings[name] = round(time.monotonic() - started, 1)
        print(f"[staff loop] {name}: {timings[name]} s", flush=True)

    # The first turn of a fresh stack loads the catalogue, the retrieval index and TensorFlow in Rasa.
    ask(base, "xin chào")
    old_answer = ask(base, QUESTION)   # the citizen's message: the bot shows its menu instead
    assert old_answer and GOODBYE not in old_answer
    old_id = registry.active_id()
    assert old_id is not None
    lap("stack up, citizen asked")

    page = browser.new_context(viewport=LAPTOP, base_url=base).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "staff")
    expect(page.locator("#admin-view")).to_be_visible(timeout=UI_TIMEOUT_MS)

    # "Câu chưa hiểu": the message is there, marked "not sure"; assign it to goodbye.
    page.get_by_role("tab", name="Câu chưa hiểu").click()
    row = page.locator("#inbox-list .inbox-row", has_text=QUESTION)
    expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(row).to_contain_text("Trợ lý không chắc")
    row.locator(".inbox-intent").select_option(INTENT)
    row.locator("[data-action=assign]").click()
    expect(page.locator("#admin-notice")).to_contain_text(INTENT, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#inbox-list .inbox-row", has_text=QUESTION)).to_have_count(0)
    learned = (nlu_dir / "nlu" / "learned" / "chitchat.yml").read_text(encoding="utf-8")
    assert QUESTION in learned

    # "Ý định & ví dụ": a few more phrasings of the same leave-taking (see MORE_EXAMPLES).
    page.get_by_role("tab", name="Ý định & ví dụ").click()
    intent_row = page.locator(f"tr[data-intent={INTENT}]")
    expect(intent_row).to_be_visible(timeout=UI_TIMEOUT_MS)
    intent_row.get_by_role("button", name="Xem câu ví dụ").click()
    for text in MORE_EXAMPLES:
        box = page.locator("#example-new")
        expect(box).to_be_visible(timeout=UI_TIMEOUT_MS)
        box.fill(text)
        box.press("Enter")
        expect(page.locator("li.example", has_text=text).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    learned = (nlu_dir / "nlu" / "learned" / "chitchat.yml").read_text(encoding="utf-8")
    assert all(text in learned for text in MORE_EXAMPLES)
    lap("annotated in the browser")

    # "Huấn luyện": only examples changed, so the quickest way that applies: the active model with a
    # new memory of the examples (bot/nlu/memory.py), live progress, then the real evaluation.
    page.get_by_role("tab", name="Huấn luyện").click()
    expect(page.locator("#models-table")).to_contain_text(old_id, timeout=UI_TIMEOUT_MS)
    page.locator("#models-train").click()
    expect(page.locator("#models-progress")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator("#models-progress-text")).to_contain_text("%", timeout=UI_TIMEOUT_MS)
    result = page.locator("#models-result")
    expect(result).to_contain_text("So sánh mô hình mới", timeout=TRAIN_TIMEOUT_MS)
    lap("trained and evaluated")
    new_id = next(m["id"] for m in registry.models() if m["id"] != old_id)
    new_model = registry.get(new_id)
    assert new_model["strategy"] == "quick" and new_model["base_model"] == old_id
    assert new_model["trained_by"] == USERS["staff"]
    # The new metrics beside the old: one column for each model, both filled in.
    comparison = result.locator("table").first
    headers = comparison.locator("thead th")
    expect(headers.nth(1)).to_have_text(f"Mô hình mới ({new_id})")
    expect(headers.nth(2)).to_have_text(f"Đang chạy ({old_id})")
    accuracy = comparison.locator("tbody tr", has_text="Độ chính xác ý định").locator("td")
    expect(accuracy).to_have_count(2)
    new_pct, old_pct = accuracy.nth(0).inner_text(), accuracy.nth(1).inner_text()
    assert new_pct.endswith("%") and old_pct.endswith("%"), (new_pct, old_pct)
    metrics = new_model["metrics"]
    old_metrics = registry.get(old_id)["metrics"]
    assert metrics["intent_accuracy"] >= old_metrics["intent_accuracy"], (metrics, old_metrics)   # DIET unchanged
    page.screenshot(path=str(tmp_path / "staff-loop-trained.png"), full_page=True)

    # "Kích hoạt": Rasa loads the new model; the bot now says goodbye.
    result.get_by_role("button", name=f"Kích hoạt {new_id}").click()
    expect(page.locator("#admin-notice")).to_contain_text(f"Đã kích hoạt mô hình {new_id}",
                                                          timeout=ACTIVATE_TIMEOUT_MS)
    assert registry.active_id() == new_id
    lap("new model active")
    new_answer = ask(base, QUESTION)
    print(f"[staff loop] before: {old_answer!r}; after: {new_answer!r}; accuracy {old_pct} → {new_pct}", flush=True)
    assert GOODBYE in new_answer, new_answer
    assert GOODBYE in ask(base, "Xin cao tu!")   # typed without diacritics, another case and punctuation

    # "Quay lại": the model before it again, and the old answer.
    rollback = page.locator(f"#models-table tr[data-model='{old_id}'] button.models__rollback")
    expect(rollback).to_have_text("Quay lại", timeout=UI_TIMEOUT_MS)
    rollback.click()
    expect(page.locator("#admin-notice")).to_contain_text(f"Đã kích hoạt mô hình {old_id}",
                                                          timeout=ACTIVATE_TIMEOUT_MS)
    assert registry.active_id() == old_id
    lap("rolled back")
    assert ask(base, QUESTION) == old_answer
    assert errors == []
    lap("done")

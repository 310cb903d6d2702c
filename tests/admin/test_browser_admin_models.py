"""The models tab in a real browser (Debian's chromium via Playwright): "Huấn luyện" with live
progress, the new metrics beside the active model's, the changed answers, "Kích hoạt" and
"Quay lại" (Rasa is a loopback fake recording ``PUT /model``; the training job is faked)."""

from __future__ import annotations

import threading

from playwright.sync_api import expect

from bot import model_registry as mr
from bot.app import create_app
from tests.admin.test_admin_models import FakeRasaModels, _fake_model
from tests.admin.test_browser_admin_dashboard import LAPTOP, log_in
from tests.loopback import LoopbackServer
from tests.test_browser import browser  # noqa: F401  (the browser fixture)
from tests.webchat import AppServer

QUESTIONS = [{"set": "nlu_eval", "variant": "written", "text": "lệ phí làm hộ chiếu bao nhiêu", "intent": "ask_fee",
              "procedure": "ho-chieu"},
             {"set": "nlu_eval", "variant": "written", "text": "chào bạn", "intent": "greet", "procedure": None}]
OLD = [{"intent": "ask_papers", "procedure": "ho-chieu"}, {"intent": "greet", "procedure": None}]
NEW = [{"intent": "ask_fee", "procedure": "ho-chieu"}, {"intent": "greet", "procedure": None}]


def test_staff_train_compare_activate_and_roll_back(browser, admin_config, tmp_path, monkeypatch):  # noqa: F811
    bundled = _fake_model(tmp_path / "b" / "current.tar.gz", b"bundled")
    stamp = tmp_path / "b" / "current.inputs"
    stamp.write_text("old-inputs")
    registry = mr.Registry(admin_config.data_dir, bundled, stamp)
    old = registry.adopt_bundled()
    registry.set_active(old["id"], "make model")
    registry.save_evaluation(old["id"], mr.metrics(QUESTIONS, OLD), OLD)
    monkeypatch.setattr(mr, "inputs_hash", lambda root=None: "new-inputs")

    def spawn(self, kind, by, options):
        job = "job-browser"
        mr._write_json(self._job_file(job), {"job": job, "kind": kind, "state": "running", "by": by, "pid": None,
                                             "options": options, "metrics": None,
                                             "progress": {"stage": "training", "label": "Huấn luyện", "percent": 40,
                                                          "epoch": 3, "epochs": 8}})

        def finish():
            new = self.register(_fake_model(tmp_path / "new.tar.gz", b"new"), data_hash="new-inputs", trained_by=by,
                                strategy="finetune", base_model=old["id"], train_seconds=61.0)
            scores = mr.metrics(QUESTIONS, NEW)
            self.save_evaluation(new["id"], scores, NEW)
            changed = mr.changed_answers(QUESTIONS, NEW, OLD)
            self.update(new["id"], compared_with=old["id"], changed=changed)
            mr._write_json(self._job_file(job), {
                "job": job, "kind": kind, "state": "done", "by": by, "pid": None, "options": options,
                "progress": {"stage": "done", "label": "Xong", "percent": 100}, "model": new["id"],
                "metrics": scores, "active_metrics": mr.metrics(QUESTIONS, OLD), "compared_with": old["id"],
                "changed": changed})

        threading.Timer(2.0, finish).start()
        return {"job": job}

    monkeypatch.setattr(mr.Registry, "_spawn", spawn)
    monkeypatch.setattr(mr, "_alive", lambda job, pid: True)
    fake = FakeRasaModels(admin_config.rasa_token)
    app = create_app(admin_config)
    app.state.model_registry = registry
    with LoopbackServer(fake.app, port=admin_config.rasa_port), AppServer(app) as server:
        page = browser.new_context(viewport=LAPTOP, base_url=server.url).new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        log_in(page, "staff")
        expect(page.locator("#admin-view")).to_be_visible(timeout=10_000)
        page.get_by_role("tab", name="Huấn luyện").click()
        expect(page.locator("#models-table")).to_contain_text(old["id"], timeout=10_000)
        page.locator("#models-train").click()
        expect(page.locator("#models-progress-text")).to_contain_text("Huấn luyện — 40% (vòng 3/8)", timeout=5_000)
        expect(page.locator("#models-result")).to_contain_text("So sánh mô hình mới", timeout=10_000)
        result = page.locator("#models-result")
        expect(result).to_contain_text("100,0%")    # the new model's intent accuracy …
        expect(result).to_contain_text("50,0%")     # … beside the active one's
        expect(result).to_contain_text("lệ phí làm hộ chiếu bao nhiêu")
        expect(result).to_contain_text("đúng hơn")
        page.screenshot(path=str(tmp_path / "models.png"), full_page=True)
        new_id = registry.models()[0]["id"]
        result.get_by_role("button", name=f"Kích hoạt {new_id}").click()
        expect(page.locator("#admin-notice")).to_contain_text("Đã kích hoạt mô hình", timeout=10_000)
        assert fake.loaded == [str(registry.model_file(new_id))]
        rollback = page.locator(f"#models-table tr[data-model='{old['id']}'] button.models__rollback")
        expect(rollback).to_have_text("Quay lại", timeout=10_000)
        rollback.click()
        expect(page.locator("#admin-notice")).to_contain_text(f"Đã kích hoạt mô hình {old['id']}", timeout=10_000)
        assert fake.loaded[-1] == str(registry.model_file(old["id"])) and registry.active_id() == old["id"]
        assert errors == []

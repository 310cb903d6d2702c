"""Staff tools, models tab: the registry, training jobs, evaluation and activation
(``bot.model_registry``, routes ``bot.admin.models``). Rasa is a loopback fake that records
``PUT /model``; training is faked except in the one ``stack`` test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import model_registry as mr
from bot.admin.models import routes
from bot.settings import ROOT
from tests.loopback import LoopbackServer


class FakeRasaModels:
    """Rasa's ``PUT /model`` (``?token=``, ``{"model_file"}`` → 204) and nothing else."""

    def __init__(self, token: str, fail: bool = False):
        self.token, self.fail, self.loaded = token, fail, []
        self.app = Starlette(routes=[Route("/model", self.put, methods=["PUT"]),
                                     Route("/", lambda r: JSONResponse({"version": "fake"}))])

    async def put(self, request: Request):
        if request.query_params.get("token") != self.token:
            return JSONResponse({"status": "failure"}, 401)
        model_file = (await request.json())["model_file"]
        if self.fail or not Path(model_file).exists():
            return JSONResponse({"status": "failure", "reason": "BadRequest"}, 400)
        self.loaded.append(model_file)
        return Response(status_code=204)


def _fake_model(path: Path, content: bytes = b"model") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def bundled(tmp_path):
    """A stand-in for ``models/current.tar.gz`` built from today's inputs."""
    model = _fake_model(tmp_path / "bundled" / "current.tar.gz", b"bundled model")
    stamp = tmp_path / "bundled" / "current.inputs"
    stamp.write_text(mr.inputs_hash())
    return model, stamp


@pytest.fixture
def staff_browser(login, admin_config, bundled):
    def make(role="staff"):
        browser = login(role)
        browser.client.app.state.model_registry = mr.Registry(admin_config.data_dir, *bundled)
        return browser
    return make


@pytest.fixture
def fake_rasa(admin_config):
    fake = FakeRasaModels(admin_config.rasa_token)
    with LoopbackServer(fake.app, port=admin_config.rasa_port):
        yield fake


# --- authorization ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["volunteer", "supervisor"])
def test_volunteers_get_403_on_every_models_route(login, role):
    browser = login(role)
    for path, method in [("/admin/api/models", "GET"), ("/admin/api/models/train", "POST"),
                         ("/admin/api/models/train/abc", "GET"), ("/admin/api/models/m1", "GET"),
                         ("/admin/api/models/m1/activate", "POST"), ("/admin/api/models/m1/cross-validate", "POST")]:
        response = browser.send(method, path, {} if method == "POST" else None)
        assert response.status_code == 403, (method, path)
    assert {r.path for r in routes()} >= {"/admin/api/models", "/admin/api/models/train",
                                          "/admin/api/models/train/{job}", "/admin/api/models/{id}/activate"}


def test_changes_need_csrf(staff_browser):
    browser = staff_browser()
    assert browser.post("/admin/api/models/train", {}, csrf=False).status_code == 403


# --- registry metadata ------------------------------------------------------------------------


def test_registry_adopts_the_bundled_model_once_with_its_metadata(tmp_path, bundled):
    registry = mr.Registry(tmp_path / "data", *bundled)
    adopted = registry.adopt_bundled()
    assert adopted["trained_by"] == "make model" and adopted["data_hash"] == mr.inputs_hash()
    assert registry.model_file(adopted["id"]).read_bytes() == b"bundled model"
    assert registry.adopt_bundled() is None   # same hash: not copied twice
    trained = registry.register(_fake_model(tmp_path / "new.tar.gz"), data_hash="abc", trained_by="thu.canbo",
                                strategy="finetune", base_model=adopted["id"], train_seconds=42.0,
                                metrics={"intent_accuracy": 0.9})
    assert not (tmp_path / "new.tar.gz").exists()   # moved into the registry
    listed = {m["id"]: m for m in registry.models()}
    assert set(listed) == {adopted["id"], trained["id"]}
    for key in ("id", "active", "created", "metrics", "data_hash", "trained_by", "activated_by", "strategy"):
        assert key in listed[trained["id"]]
    assert listed[trained["id"]]["trained_by"] == "thu.canbo" and listed[trained["id"]]["base_model"] == adopted["id"]
    on_disk = json.loads((tmp_path / "data" / "models" / f"{trained['id']}.json").read_text())
    assert on_disk["metrics"] == {"intent_accuracy": 0.9}
    with pytest.raises(mr.Unknown):
        registry.get("../../etc/passwd")


def test_snapshot_hashes_like_the_tree(tmp_path):
    assert mr.snapshot_inputs(tmp_path / "snap") == mr.inputs_hash()
    (tmp_path / "snap" / "nlu_data" / "nlu" / "extra.yml").write_text("x", encoding="utf-8")
    assert mr.inputs_hash(tmp_path / "snap") != mr.inputs_hash()


def test_startup_model_is_the_active_one_and_a_newer_make_model_wins(tmp_path, bundled):
    registry = mr.Registry(tmp_path / "data", *bundled)
    assert registry.startup_model(Path("fallback")).resolve() == registry.model_file(registry.active_id())
    first = registry.active_id()
    other = registry.register(_fake_model(tmp_path / "o.tar.gz"), data_hash="other")
    registry.set_active(other["id"], "thu.canbo")
    assert registry.startup_model(Path("fallback")).resolve() == registry.model_file(other["id"])   # restart keeps it
    assert registry.previous_id() == first
    model, stamp = bundled
    time.sleep(1.1)
    model.write_bytes(b"retrained by make model")
    stamp.write_text("new inputs")
    path = registry.startup_model(Path("fallback"))
    assert path.read_bytes() == b"retrained by make model"
    assert mr.Registry(tmp_path / "empty", tmp_path / "none.tar.gz", tmp_path / "none").startup_model(
        Path("fallback")) == Path("fallback")


# --- training jobs ----------------------------------------------------------------------------


def test_unchanged_data_is_not_retrained(staff_browser, admin_config):
    browser = staff_browser()
    response = browser.post("/admin/api/models/train", {})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job"] is None and body["unchanged"] is True
    models = browser.get("/admin/api/models").json()["models"]
    assert [m["id"] for m in models] == [body["model"]]
    assert not list((admin_config.data_dir / "models" / "jobs").glob("*.json"))   # no job started


def test_train_option_is_checked(staff_browser):
    assert staff_browser().post("/admin/api/models/train", {"full": "yes"}).status_code == 400
    response = staff_browser().post("/admin/api/models/train", {"strategy": "fast"})
    assert response.status_code == 400 and "strategy" in response.json()["error"]


def _copy_snapshot(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_only_examples_differ_tells_a_quick_update_from_a_training(tmp_path):
    base = tmp_path / "base"
    mr.snapshot_inputs(base)
    chitchat = Path("nlu_data") / "nlu" / "chitchat.yml"
    assert mr.only_examples_differ(base, _copy_snapshot(base, tmp_path / "same"))
    added = _copy_snapshot(base, tmp_path / "added")
    (added / "nlu_data" / "nlu" / "learned").mkdir(exist_ok=True)
    (added / "nlu_data" / "nlu" / "learned" / "chitchat.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: goodbye\n  examples: |\n    - xin cáo từ\n', encoding="utf-8")
    assert mr.only_examples_differ(base, added)                     # a new example of a known intent
    new_intent = _copy_snapshot(base, tmp_path / "intent")
    _append(new_intent / chitchat, "\n- intent: ask_weather\n  examples: |\n    - trời mưa không\n")
    assert not mr.only_examples_differ(base, new_intent)            # DIET must learn a new label
    synonym = _copy_snapshot(base, tmp_path / "synonym")
    _append(synonym / chitchat, "\n- synonym: hộ chiếu\n  examples: |\n    - hc giấy\n")
    assert not mr.only_examples_differ(base, synonym)
    domain = _copy_snapshot(base, tmp_path / "domain")
    _append(domain / "domain.yml", "\n# changed\n")
    assert not mr.only_examples_differ(base, domain)


def test_job_runner_quick_update_remembers_the_new_examples(tmp_path, monkeypatch):
    """The default strategy when only examples changed: the active model with a new memory (no
    rasa train), registered as "quick" with the active model as its base, then evaluated."""
    from bot.nlu.memory import recall
    from tests.test_memory import _members, _packaged

    model = _packaged(tmp_path / "bundled" / "current.tar.gz", {"written": {}, "folded": {}})
    stamp = tmp_path / "bundled" / "current.inputs"
    stamp.write_text(mr.inputs_hash())
    registry = mr.Registry(tmp_path / "data", model, stamp)
    base = registry.adopt_bundled()
    assert registry.data_snapshot(base["id"]).is_dir()   # make model's inputs kept with it
    registry.set_active(base["id"], "make model")
    # Two held-out questions: one the new memory recalls ("xin cáo từ" is a new example), one it does not.
    questions = [{"set": "nlu_eval", "variant": "written", "text": "xin cáo từ!", "intent": "goodbye",
                  "procedure": None},
                 {"set": "nlu_eval", "variant": "written", "text": "hộ chiếu hết bao nhiêu tiền vậy bạn",
                  "intent": "ask_fee", "procedure": "ho-chieu"}]
    answers = [{"intent": "bot_capabilities", "procedure": None}, {"intent": "ask_fee", "procedure": "ho-chieu"}]
    scores = {**mr.metrics(questions, answers), "context": mr.evaluation_context()}
    registry.save_evaluation(base["id"], scores, answers)   # the active model's, in today's context
    parsed = []
    monkeypatch.setattr(mr, "held_out", lambda: questions)
    monkeypatch.setattr(mr, "evaluate", lambda model: pytest.fail("the active model's evaluation is reused"))
    monkeypatch.setattr(mr, "predict", lambda model, qs: parsed.extend(q["text"] for q in qs)
                        or [{"intent": "goodbye", "procedure": None} for _ in qs])
    monkeypatch.setattr(mr, "run_logged", lambda *a, **k: pytest.fail("a quick update runs no rasa train"))
    extra = 'version: "3.1"\nnlu:\n- intent: goodbye\n  examples: |\n    - xin cáo từ\n'
    registry._ensure()
    mr._write_json(registry._job_file("q1"), {"job": "q1", "kind": "train", "state": "running", "by": "thu.canbo",
                                              "options": {}, "progress": {}, "metrics": None})
    runner = mr.JobRunner(tmp_path / "data", "q1")
    runner.train(extra_examples=extra)
    new = registry.get(runner.data["model"])
    assert new["strategy"] == "quick" and new["base_model"] == base["id"] and new["trained_by"] == "thu.canbo"
    memory = json.loads(next(v for k, v in _members(registry.model_file(new["id"])).items()
                             if k.endswith("memory.json")))
    assert recall(memory, "Xin cáo từ") == "goodbye" and recall(memory, "xin cao tu") == "goodbye"
    assert recall(memory, "chào bạn") == "greet"   # the hand-written examples are remembered too
    assert registry.active_id() == base["id"]        # never activated by training
    # evaluated from the active model's answers: only the question the memories recall differently is parsed
    assert parsed == ["xin cáo từ!"]
    job = runner.data
    assert job["metrics"]["intent_accuracy"] == 1.0 and job["active_metrics"]["intent_accuracy"] == 0.5
    assert job["metrics"]["parsed"] == 1 and job["metrics"]["derived_from"] == base["id"]
    assert [(c["text"], c["verdict"]) for c in job["changed"]] == [("xin cáo từ!", "better")]

    # asked for a full training, the same data goes to rasa train
    calls = []
    monkeypatch.setattr(mr, "run_logged", lambda command, *a, **k: calls.append(command) or 1)
    mr._write_json(registry._job_file("f1"), {"job": "f1", "kind": "train", "state": "running", "by": "thu.canbo",
                                              "options": {"strategy": "full", "extra_examples": extra + "\n"},
                                              "progress": {}, "metrics": None})
    mr.JobRunner(tmp_path / "data", "f1").run()
    assert calls and "--finetune" not in calls[0] and registry.job("f1")["state"] == "failed"


def test_job_lifecycle_running_then_failed_when_its_process_dies(staff_browser, admin_config, monkeypatch):
    """Changed data starts a job; a job whose process died is reported failed, not running forever."""
    monkeypatch.setattr(mr, "inputs_hash", lambda root=ROOT: "changed-data")
    spawned = []

    def spawn(self, kind, by, options):
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
        job = "job1"
        mr._write_json(self._job_file(job), {"job": job, "kind": kind, "state": "running", "by": by,
                                             "options": options, "pid": sleeper.pid,
                                             "progress": {"stage": "training", "percent": 40}, "metrics": None})
        mr._processes[job] = sleeper
        spawned.append(sleeper)
        return {"job": job}

    monkeypatch.setattr(mr.Registry, "_spawn", spawn)
    browser = staff_browser()
    response = browser.post("/admin/api/models/train", {})
    assert response.status_code == 202 and response.json() == {"job": "job1"}
    running = browser.get("/admin/api/models/train/job1").json()
    assert running["state"] == "running" and running["progress"]["percent"] == 40 and "metrics" in running
    again = browser.post("/admin/api/models/train", {}).json()
    assert again == {"job": "job1", "already_running": True}   # one training at a time
    assert browser.get("/admin/api/models").json()["job"] == "job1"
    spawned[0].wait()
    failed = browser.get("/admin/api/models/train/job1").json()
    assert failed["state"] == "failed" and failed["error"]
    assert browser.get("/admin/api/models/train/nope").status_code == 404


def _rasa_progress_script(out: Path, name: str) -> list[str]:
    """Stands in for ``rasa train``: prints tqdm epoch lines, writes the model file."""
    code = ("import sys, time\n"
            "for i in range(4):\n"
            "    sys.stdout.write(f'\\rEpochs:  {25*i}%|##  | {i}/4 [00:0{i}<00:03, 1.00s/it]'); sys.stdout.flush()\n"
            f"open({str(out / (name + '.tar.gz'))!r}, 'wb').write(b'trained')\n"
            "print('\\rEpochs: 100%|####| 4/4 [00:04<00:00, 1.00s/it]')\n")
    return [sys.executable, "-c", code]


def test_job_runner_trains_evaluates_compares_and_registers(tmp_path, bundled, monkeypatch):
    """The job process's steps (in-process here, with rasa and the model faked): progress from
    Rasa's epoch bar, fine-tuning the active model, metrics, comparison, changed answers."""
    registry = mr.Registry(tmp_path, *bundled)
    base = registry.adopt_bundled()
    registry.set_active(base["id"], "make model")
    questions = [{"set": "nlu_eval", "variant": "written", "text": "lệ phí hộ chiếu", "intent": "ask_fee",
                  "procedure": "ho-chieu"},
                 {"set": "nlu_eval", "variant": "written", "text": "xin chào", "intent": "greet", "procedure": None}]
    old = [{"intent": "ask_papers", "procedure": "ho-chieu"}, {"intent": "greet", "procedure": None}]
    new = [{"intent": "ask_fee", "procedure": "ho-chieu"}, {"intent": "greet", "procedure": None}]
    registry.save_evaluation(base["id"], {**mr.metrics(questions, old), "context": mr.evaluation_context()}, old)
    commands, seen = [], []
    monkeypatch.setattr(mr, "prepare_snapshot", lambda snapshot, extra=None: (mr.snapshot_inputs(snapshot), "new")[1])
    monkeypatch.setattr(mr, "held_out", lambda: questions)
    monkeypatch.setattr(mr, "evaluate", lambda model: (mr.metrics(questions, new), new))
    monkeypatch.setattr(mr.JobRunner, "_finetune_base", lambda self, active, snapshot: active)

    def fake_command(snapshot, out, name, finetune=None, **kw):
        commands.append(finetune)
        return _rasa_progress_script(out, name)

    monkeypatch.setattr(mr, "train_command", fake_command)
    registry._ensure()
    mr._write_json(registry._job_file("j1"),
                   {"job": "j1", "kind": "train", "state": "running", "by": "thu.canbo", "options": {},
                    "progress": {}, "metrics": None})
    runner = mr.JobRunner(tmp_path, "j1")
    original = runner.progress
    monkeypatch.setattr(runner, "progress", lambda stage, percent, **extra: (seen.append((stage, round(percent))),
                                                                           original(stage, percent, **extra)))
    runner.run()
    job = registry.job("j1")
    assert job["state"] == "done", job.get("error")
    assert commands == [registry.model_file(base["id"])]   # fine-tuned the active model
    assert ("training", 42) in seen and ("training", 80) in seen and seen[-1] == ("done", 100)
    assert job["metrics"]["intent_accuracy"] == 1.0 and job["active_metrics"]["intent_accuracy"] == 0.5
    assert job["changed"] == [{"text": "lệ phí hộ chiếu", "set": "nlu_eval", "variant": "written",
                               "expected": "ask_fee", "expected_procedure": "ho-chieu", "new": "ask_fee",
                               "new_procedure": "ho-chieu", "old": "ask_papers", "old_procedure": "ho-chieu",
                               "verdict": "better"}]
    model = registry.get(job["model"])
    assert model["data_hash"] == "new" and model["trained_by"] == "thu.canbo" and model["strategy"] == "finetune"
    assert model["base_model"] == base["id"] and model["metrics"]["per_intent"]["ask_fee"]["recall"] == 1.0
    assert registry.active_id() == base["id"]   # training never activates
    assert registry.data_snapshot(job["model"]).is_dir()


def test_metrics_per_intent_and_confused_pairs():
    questions = [{"set": "s", "variant": "written", "text": str(i), "intent": intent, "procedure": None}
                 for i, intent in enumerate(["a", "a", "b", "b"])]
    answers = [{"intent": got, "procedure": None} for got in ["a", "b", "b", "b"]]
    scores = mr.metrics(questions, answers)
    assert scores["intent_accuracy"] == 0.75 and scores["by_set"] == {"s/written": 0.75}
    assert scores["per_intent"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert scores["confused"] == [{"expected": "a", "got": "b", "count": 1}]


# --- activation -------------------------------------------------------------------------------


def test_activation_calls_rasa_put_model_and_rollback_restores_the_previous(staff_browser, admin_config,
                                                                             fake_rasa, tmp_path):
    browser = staff_browser("staff")
    registry = browser.client.app.state.model_registry
    first = browser.get("/admin/api/models").json()["models"][0]["id"]    # the bundled model
    second = registry.register(_fake_model(tmp_path / "b.tar.gz", b"second"), data_hash="h2",
                               trained_by="thu.canbo")["id"]
    response = browser.post(f"/admin/api/models/{second}/activate", {})
    assert response.status_code == 200, response.text
    assert fake_rasa.loaded == [str(registry.model_file(second))]
    listing = browser.get("/admin/api/models").json()
    assert listing["active"] == second and listing["previous"] == first
    active = next(m for m in listing["models"] if m["id"] == second)
    assert active["active"] and active["activated_by"] == "thu.canbo" and active["activated_at"]
    # "Quay lại": activate the previous model (an admin this time)
    admin = staff_browser("admin")
    assert admin.post(f"/admin/api/models/{first}/activate", {}).status_code == 200
    assert fake_rasa.loaded[-1] == str(registry.model_file(first))
    listing = admin.get("/admin/api/models").json()
    assert listing["active"] == first and listing["previous"] == second
    assert next(m for m in listing["models"] if m["id"] == first)["activated_by"] == "quan.tri"
    assert admin.post("/admin/api/models/nope/activate", {}).status_code == 404


def test_a_model_rasa_refuses_is_not_recorded_active(staff_browser, admin_config, fake_rasa, tmp_path):
    browser = staff_browser()
    registry = browser.client.app.state.model_registry
    first = browser.get("/admin/api/models").json()["models"][0]["id"]
    registry.set_active(first, "make model")
    bad = registry.register(_fake_model(tmp_path / "bad.tar.gz"), data_hash="bad")["id"]
    fake_rasa.fail = True
    response = browser.post(f"/admin/api/models/{bad}/activate", {})
    assert response.status_code == 502 and "Mô hình cũ vẫn đang chạy" in response.json()["error"]
    assert registry.active_id() == first


def test_activation_when_rasa_is_down(staff_browser, tmp_path):
    browser = staff_browser()
    registry = browser.client.app.state.model_registry
    model = registry.register(_fake_model(tmp_path / "m.tar.gz"), data_hash="m")["id"]
    assert browser.post(f"/admin/api/models/{model}/activate", {}).status_code == 502
    assert registry.active_id() != model


def test_rasa_server_loads_a_new_model_in_a_thread():
    """``PUT /model`` must not block Rasa's event loop while the new model loads."""
    import asyncio
    import threading

    import rasa.server

    from bot import rasa_server

    original = rasa.server._load_agent
    threads = []

    async def slow_load(model_path=None, model_server=None, remote_storage=None, endpoints=None):
        threads.append(threading.current_thread())
        time.sleep(0.3)
        return "agent"

    released = []
    release, delay = rasa_server.release_free_memory, mr.RELEASE_AFTER_SWAP_SECONDS
    try:
        rasa_server.release_free_memory = lambda: released.append(True)
        mr.RELEASE_AFTER_SWAP_SECONDS = 0.0
        rasa.server._load_agent = slow_load
        mr.install_background_model_load()
        assert rasa.server._load_agent is not slow_load
        assert "install_background_model_load" in Path(rasa_server.__file__).read_text()

        async def scenario():
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(ticker())
            agent = await rasa.server._load_agent(model_path="x.tar.gz")
            await asyncio.sleep(0.05)
            task.cancel()
            return agent, ticks

        agent, ticks = asyncio.run(scenario())
        assert agent == "agent" and threads[0] is not threading.main_thread() and ticks > 10
        assert released == [True]   # the old model's memory is handed back after the swap
    finally:
        rasa.server._load_agent = original
        rasa_server.release_free_memory, mr.RELEASE_AFTER_SWAP_SECONDS = release, delay


# --- a real training run ------------------------------------------------------------------------


@pytest.mark.stack
def test_real_finetune_job_after_twenty_examples(tmp_path):
    """The real thing: fine-tune the bundled model on the data + 20 examples, through the job
    process (3–8 minutes on 2 shared cores, evaluation included)."""
    from bot import training
    from bot.bench_models import twenty_examples

    if not training.MODEL.exists():
        pytest.skip("no trained model (make model)")
    registry = mr.Registry(tmp_path)
    base = registry.adopt_bundled() or registry.by_hash(training.STAMP.read_text())
    registry.set_active(base["id"], "make model")
    started = registry.start_training("thu.canbo", extra_examples=twenty_examples(), strategy="finetune")
    deadline = time.monotonic() + 1800   # a loaded shared machine: minutes, not seconds
    while (job := registry.job(started["job"]))["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(2)
    assert job["state"] == "done", job.get("error")
    assert job["progress"]["percent"] == 100 and job["changed"] is not None
    model = registry.get(job["model"])
    assert model["strategy"] == "finetune" and model["base_model"] == base["id"] and model["train_seconds"] > 0
    assert job["metrics"]["intent_accuracy"] >= job["active_metrics"]["intent_accuracy"] - 0.01
    assert os.path.getsize(registry.model_file(job["model"])) > 1_000_000


@pytest.mark.stack
def test_real_quick_update_after_twenty_examples(tmp_path):
    """The default when staff only added examples: the bundled model with a new memory, through the
    job process; evaluated for real. DIET is unchanged, so no held-out question gets worse, and
    every one of the 20 new examples is now answered with its intent."""
    from bot import training
    from bot.bench_models import twenty_examples
    from bot.nlu.memory import nlu_examples

    if not (training.MODEL.exists() and training.STAMP.exists()
            and training.STAMP.read_text() == training.inputs_hash()):
        pytest.skip("the model is not trained from the current data (make model)")
    registry = mr.Registry(tmp_path)
    base = registry.adopt_bundled() or registry.by_hash(training.STAMP.read_text())
    registry.set_active(base["id"], "make model")
    started = registry.start_training("thu.canbo", extra_examples=twenty_examples())
    deadline = time.monotonic() + 1200
    while (job := registry.job(started["job"]))["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(1)
    assert job["state"] == "done", job.get("error")
    model = registry.get(job["model"])
    assert model["strategy"] == "quick" and model["base_model"] == base["id"]
    assert job["metrics"]["intent_accuracy"] >= job["active_metrics"]["intent_accuracy"]
    assert all(c["verdict"] != "worse" for c in job["changed"])
    (tmp_path / "twenty").mkdir()
    (tmp_path / "twenty" / "twenty.yml").write_text(twenty_examples(), encoding="utf-8")
    twenty = [{"text": text, "intent": intent} for text, intent in nlu_examples(tmp_path / "twenty")]
    assert len(twenty) == 20
    answers = mr.predict(registry.model_file(model["id"]), twenty)
    assert [a["intent"] for a in answers] == [q["intent"] for q in twenty]


def test_cross_validation_job_reads_folds_and_the_report(tmp_path, bundled, monkeypatch):
    registry = mr.Registry(tmp_path, *bundled)
    base = registry.adopt_bundled()
    mr.snapshot_inputs(registry.data_snapshot(base["id"]))
    registry._ensure()
    mr._write_json(registry._job_file("cv1"), {"job": "cv1", "kind": "cross_validation", "state": "running",
                                               "by": "thu.canbo", "options": {"model": base["id"]}, "progress": {}})
    folds_seen = []

    def fake_run(command, log, on_line=None, env=None, nice=True):
        assert command[3:5] == ["test", "nlu"] and "--cross-validation" in command
        out = Path(command[command.index("--out") + 1])
        for fold in range(3):
            for epoch in range(3):
                on_line(f"Epochs:  {33 * epoch}%|##  | {epoch}/2 [00:01<00:01, 1.0s/it]")
            on_line("Epochs: 100%|####| 2/2 [00:02<00:00, 1.0s/it]")
            on_line("Epochs: 100%|####| 2/2 [00:02<00:00, 1.0s/it, t_loss=1]")
            folds_seen.append(runner.data["progress"]["fold"])
        on_line("2026-12-03 06:00:00 INFO     rasa.nlu.test  - test Accuracy: 0.912 (0.010)")
        out.mkdir(parents=True)
        (out / "intent_report.json").write_text(json.dumps({
            "greet": {"precision": 1.0, "recall": 0.9, "f1-score": 0.947, "support": 10},
            "accuracy": 0.912, "macro avg": {"precision": 0.9, "recall": 0.9, "f1-score": 0.9, "support": 10}}))
        return 0

    monkeypatch.setattr(mr, "run_logged", fake_run)
    runner = mr.JobRunner(tmp_path, "cv1")
    runner.run()
    job = registry.job("cv1")
    assert job["state"] == "done", job.get("error")
    assert folds_seen == [1, 2, 3]
    cv = registry.get(base["id"])["cross_validation"]
    assert cv["intent_accuracy"] == 0.912 and cv["folds"] == 3
    assert cv["per_intent"] == {"greet": {"precision": 1.0, "recall": 0.9, "f1": 0.947, "support": 10}}

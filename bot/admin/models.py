"""Staff tools: training, evaluating, activating and rolling back models (see ``bot.admin``).

Thin routes over ``bot.model_registry`` (registry under ``<data dir>/models``):

- ``POST models/train`` ``{"full": false}`` or ``{"strategy": "quick"|"finetune"|"full"}`` (none: the
  quickest that applies, ``bot.model_registry.STRATEGIES``) → ``202 {"job"}`` (a background job under ``nice -n 19``),
  ``{"job", "already_running": true}`` while one runs, or ``200 {"job": null, "unchanged": true,
  "model"}`` when a registered model was trained from these exact inputs (nothing is retrained);
- ``GET models/train/{job}`` → ``{"state": "running"|"done"|"failed", "progress": {"stage", "label",
  "percent", "epoch", "epochs"}, "metrics", "active_metrics", "changed", "model", "error"}``;
- ``GET models`` → ``{"models": [{"id", "active", "previous", "created", "metrics", "data_hash",
  "trained_by", "activated_by", "activated_at", "strategy", "train_seconds", ...}], "active",
  "previous", "job"}`` (the running job, if any);
- ``GET models/{id}`` → one model with its comparison with the model active when it was trained;
- ``POST models/{id}/activate`` → Rasa's ``PUT /model``, then ``{"model"}``; activating the previous
  model is the rollback ("Quay lại");
- ``POST models/{id}/cross-validate`` → ``202 {"job"}``: 3-fold cross-validation in the background.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from bot.admin.common import NOT_FOUND, body, error, ok, staff
from bot.model_registry import STRATEGIES, ActivationFailed, Registry, Unknown

ACTIVATION_FAILED = "Không kích hoạt được mô hình: máy chủ Rasa không nhận mô hình này. Mô hình cũ vẫn đang chạy."
BAD_OPTION = "Tùy chọn “full” phải là true hoặc false."
BAD_STRATEGY = "Cách huấn luyện “strategy” phải là “quick”, “finetune” hoặc “full”."


def registry(request: Request) -> Registry:
    app = request.app
    if getattr(app.state, "model_registry", None) is None:
        app.state.model_registry = Registry(app.state.config.data_dir)
    return app.state.model_registry


def _summary(model: dict) -> dict:
    """A model without its long lists (the page asks ``GET models/{id}`` for those)."""
    return {k: v for k, v in model.items() if k != "changed"}


async def list_models(request: Request):
    await staff(request)
    reg = registry(request)
    models = await run_in_threadpool(lambda: (reg.adopt_bundled(), reg.models())[1])
    running = await run_in_threadpool(reg.running_job)
    return ok({"models": [_summary(m) for m in models], "active": reg.active_id(), "previous": reg.previous_id(),
               "job": running["job"] if running else None})


async def get_model(request: Request):
    await staff(request)
    reg = registry(request)
    try:
        model = await run_in_threadpool(reg.get, request.path_params["id"])
    except Unknown:
        return error(NOT_FOUND, 404)
    return ok({"model": {**model, "active": model["id"] == reg.active_id()}})


async def train(request: Request):
    session = await staff(request)
    data = await body(request) if int(request.headers.get("content-length") or 0) else {}
    full = data.get("full", False) if isinstance(data, dict) else None
    if not isinstance(full, bool):
        return error(BAD_OPTION, 400)
    strategy = data.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        return error(BAD_STRATEGY, 400)
    result = await run_in_threadpool(lambda: registry(request).start_training(session.username, full,
                                                                              strategy=strategy))
    return ok(result, 200 if result.get("job") is None or result.get("already_running") else 202)


async def job(request: Request):
    await staff(request)
    try:
        data = await run_in_threadpool(registry(request).job, request.path_params["job"])
    except Unknown:
        return error(NOT_FOUND, 404)
    return ok({k: v for k, v in data.items() if k not in ("pid", "options")})


async def activate(request: Request):
    session = await staff(request)
    reg, config = registry(request), request.app.state.config
    model_id = request.path_params["id"]
    try:
        reg.get(model_id)
        transport = getattr(request.app.state, "rasa_admin_transport", None)   # tests
        model = await reg.activate(model_id, session.username, config.rasa_urls, config.rasa_token,
                                   transport=transport)
    except Unknown:
        return error(NOT_FOUND, 404)
    except (ActivationFailed, OSError) as failure:
        return error(ACTIVATION_FAILED, 502, detail=str(failure)[:200])
    except Exception as failure:  # httpx errors: Rasa down or too slow
        if type(failure).__module__.startswith("httpx"):
            return error(ACTIVATION_FAILED, 502, detail=type(failure).__name__)
        raise
    return ok({"model": model, "active": model_id, "previous": reg.previous_id()})


async def cross_validate(request: Request):
    session = await staff(request)
    try:
        result = await run_in_threadpool(registry(request).start_cross_validation, request.path_params["id"],
                                         session.username)
    except Unknown:
        return error(NOT_FOUND, 404)
    return ok(result, 200 if result.get("already_running") else 202)


def routes() -> list[Route]:
    return [
        Route("/admin/api/models", list_models, methods=["GET"]),
        Route("/admin/api/models/train", train, methods=["POST"]),
        Route("/admin/api/models/train/{job}", job, methods=["GET"]),
        Route("/admin/api/models/{id}", get_model, methods=["GET"]),
        Route("/admin/api/models/{id}/activate", activate, methods=["POST"]),
        Route("/admin/api/models/{id}/cross-validate", cross_validate, methods=["POST"]),
    ]

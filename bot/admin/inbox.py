"""Staff tools: the NLU inbox and the intents' examples (see ``bot.admin``), thin routes over ``bot.learning``.

- ``GET inbox`` → ``{"items": [{"id", "text", "count", "reasons", "last_seen", "suggested_intent",
  "suggested_procedure"}], "intents": [...], "reasons": {code: label}}``: messages the bot did not
  handle well, grouped, most frequent first, personal data already replaced by placeholders.
- ``POST inbox/{id}`` ``{"intent", "procedure": id|null}`` or ``{"out_of_scope": true}`` → 201
  ``{"example", "item"}``: the group's text becomes a training example (``[words](procedure)`` when
  it names the procedure) and leaves the inbox. 400 names the unknown intent or procedure.
- ``GET intents`` → ``{"intents": [{"name", "count", "warning", "topic", "duplicates", "conflicts"}],
  "issues": [...], "min_examples"}``; ``GET intents/{name}`` → ``{"intent", "examples"}``; also
  the synonyms and lookup tables when the data has them (``kind``).
- ``POST examples`` ``{"text", "intent"}`` (or ``"synonym"`` / ``"lookup"`` instead of ``"intent"``)
  → 201; ``PUT examples/{id}`` ``{"text"?, "intent"?}`` edits or moves; ``DELETE examples/{id}``.

The training data's folder is ``app.state.nlu_data_dir`` when set (tests point it at a copy),
else the repository's ``nlu_data/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import learning
from bot.admin.common import NOT_FOUND, BadBody, body, error, ok, staff
from bot.settings import ROOT

REASON_LABELS = {
    "fallback": "Trợ lý không hiểu",
    "low_confidence": "Trợ lý không chắc",
    "clarify": "Trợ lý phải hỏi lại",
    "handover": "Chuyển cho tư vấn viên",
    "none_of_these": "Người dân bảo “không phải”",
    "flagged": "Tình nguyện viên báo trả lời sai",
}
BAD_INTENT = "Ý định “{name}” không có trong domain.yml."
BAD_PROCEDURE = "Thủ tục “{name}” không có trong danh mục thủ tục."
BAD_ANNOTATION = "Cần gửi {\"intent\", \"procedure\"} (procedure có thể là null) hoặc {\"out_of_scope\": true}."
BAD_EXAMPLE = "Cần gửi {\"text\", \"intent\"} (hoặc \"synonym\", \"lookup\" thay cho \"intent\")."
BAD_EDIT = "Cần gửi {\"text\"} để sửa hoặc {\"intent\"} để chuyển sang ý định khác."
GONE = "Nhóm câu này không còn trong hộp thư (có thể đã được gán)."


@lru_cache(maxsize=4)
def domain_intents(path: Path = ROOT / "domain.yml") -> tuple[str, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return tuple(str(i) if not isinstance(i, dict) else str(next(iter(i))) for i in data.get("intents") or [])


def _nlu(request: Request) -> learning.NluData:
    return learning.NluData(getattr(request.app.state, "nlu_data_dir", None) or request.app.state.config.nlu_data_dir)


def _catalogue():
    from procedures import default_catalogue

    return default_catalogue()


def _text(value, message: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise BadBody(message)
    return value


def _items(request: Request) -> list[learning.InboxItem]:
    config = request.app.state.config
    store = learning.store_for(request.app)
    return learning.inbox(learning.collect(store.db, config.tracker_url), store.annotated())


async def inbox(request: Request) -> Response:
    await staff(request)
    items = await run_in_threadpool(_items, request)
    return ok({"items": [i.public() for i in items], "intents": list(domain_intents()), "reasons": REASON_LABELS})


def _target(data) -> tuple[str, str | None]:
    """(intent, procedure) of an annotation body, else BadBody naming what is wrong."""
    if not isinstance(data, dict):
        raise BadBody(BAD_ANNOTATION)
    if data.get("out_of_scope") is True:
        return learning.OUT_OF_SCOPE, None
    intent = _text(data.get("intent"), BAD_ANNOTATION)
    if intent not in domain_intents():
        raise BadBody(BAD_INTENT.format(name=intent))
    procedure = data.get("procedure")
    if procedure is not None and (not isinstance(procedure, str) or procedure not in _catalogue()):
        raise BadBody(BAD_PROCEDURE.format(name=procedure))
    return intent, procedure


async def annotate(request: Request) -> Response:
    session = await staff(request)
    intent, procedure = _target(await body(request))

    def apply():
        item = next((i for i in _items(request) if i.id == request.path_params["item_id"]), None)
        if item is None:
            return None, None
        text = learning.annotate(item.text, procedure, _catalogue())
        example = _nlu(request).add("intent", intent, text)
        learning.store_for(request.app).annotate(item.key, intent, procedure, example.text, example.file,
                                                 session.username)
        return item, example

    try:
        item, example = await run_in_threadpool(apply)
    except learning.BadExample as bad:
        return error(str(bad), 400)
    if item is None:
        return error(GONE, 404)
    return ok({"example": example.public(), "item": {**item.public(), "intent": intent, "procedure": procedure}}, 201)


async def intents(request: Request) -> Response:
    await staff(request)
    nlu = _nlu(request)

    def listing():
        examples = nlu.examples()
        others = sorted({(e.kind, e.name) for e in examples if e.kind != "intent"})
        return {"intents": nlu.intents(list(domain_intents())), "issues": nlu.issues(examples),
                "tables": [{"kind": kind, "name": name, "count": sum(1 for e in examples if (e.kind, e.name) ==
                                                                       (kind, name))} for kind, name in others],
                "min_examples": learning.MIN_EXAMPLES}

    return ok(await run_in_threadpool(listing))


async def intent(request: Request) -> Response:
    await staff(request)
    name = request.path_params["name"]
    kind = request.query_params.get("kind", "intent")
    every = await run_in_threadpool(_nlu(request).examples)
    examples = [e.public() for e in every if e.kind == kind and e.name == name]
    if not examples and (kind != "intent" or name not in domain_intents()):
        return error(NOT_FOUND, 404)
    return ok({"intent": name, "kind": kind, "examples": examples})


def _new_example(data) -> tuple[str, str, str]:
    if not isinstance(data, dict):
        raise BadBody(BAD_EXAMPLE)
    text = _text(data.get("text"), BAD_EXAMPLE)
    for kind in ("intent", "synonym", "lookup"):
        if data.get(kind) is not None:
            name = _text(data[kind], BAD_EXAMPLE)
            if kind == "intent" and name not in domain_intents():
                raise BadBody(BAD_INTENT.format(name=name))
            return kind, name.strip(), learning.placeholders(text)
    raise BadBody(BAD_EXAMPLE)


async def add_example(request: Request) -> Response:
    await staff(request)
    kind, name, text = _new_example(await body(request))
    try:
        example = await run_in_threadpool(_nlu(request).add, kind, name, text)
    except learning.BadExample as bad:
        return error(str(bad), 400)
    return ok({"example": example.public()}, 201)


async def change_example(request: Request) -> Response:
    await staff(request)
    nlu, example_id = _nlu(request), request.path_params["example_id"]
    try:
        if request.method == "DELETE":
            return ok({"deleted": (await run_in_threadpool(nlu.delete, example_id)).public()})
        data = await body(request)
        if not isinstance(data, dict) or data.get("text") is None and data.get("intent") is None:
            raise BadBody(BAD_EDIT)
        text = _text(data.get("text"), BAD_EDIT, required=False)
        target = _text(data.get("intent"), BAD_EDIT, required=False)
        if target is not None and target not in domain_intents():
            raise BadBody(BAD_INTENT.format(name=target))
        text = learning.placeholders(text) if text is not None else None
        return ok({"example": (await run_in_threadpool(nlu.edit, example_id, text, target)).public()})
    except LookupError:
        return error(NOT_FOUND, 404)
    except learning.BadExample as bad:
        return error(str(bad), 400)


def routes() -> list[Route]:
    return [
        Route("/admin/api/inbox", inbox),
        Route("/admin/api/inbox/{item_id}", annotate, methods=["POST"]),
        Route("/admin/api/intents", intents),
        Route("/admin/api/intents/{name}", intent),
        Route("/admin/api/examples", add_example, methods=["POST"]),
        Route("/admin/api/examples/{example_id}", change_example, methods=["PUT", "DELETE"]),
    ]

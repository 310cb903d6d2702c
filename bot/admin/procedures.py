"""Staff tools: the procedure catalogue (see ``bot.admin``), thin routes over ``procedures.editing``.

- ``GET procedures[?q=&limit=&offset=&source=all|hand_written|imported]`` → ``{"total", "limit",
  "offset", "items": [{"id", "code", "name", "short_name", "checked_on", "unverified", "imported",
  "source", "flags"}]}``: the hand-written and the ~2,600 imported records, those with
  ``unverified`` fields first, then the oldest ``checked_on``;
- ``POST procedures`` (a new record) and ``PUT procedures/{id}`` (the whole record, as JSON with
  the YAML's field names) → validated like the loader (400 ``{"error", "field"}``), written to
  ``<catalogue>/<id>.yml``, versioned, and live in the bot on its next message;
- ``GET procedures/{id}`` → the record; ``GET procedures/{id}/yaml`` → ``{"yaml", "imported", "file", "etag"}``;
  both send the record's ``ETag``. A ``PUT`` with ``If-Match: <etag>`` is refused (412, nothing written)
  when someone saved the record since (two staff editing one record: the second is told, not overwritten);
  without ``If-Match`` the last save wins (both are versioned);
  ``GET procedures/{id}/versions`` → ``{"versions": [{"id", "author", "created", "action", "diff"}]}``;
- ``POST procedures/parse`` ``{"yaml"}`` → ``{"record"}``: the page's YAML editor reads its text through
  the loader's YAML reader (duplicate keys refused), then PUTs the record.

The page (``bot/static/admin-procedures.js``) edits the record as YAML in a textarea — every field,
exactly the text that will be written to the file — beside a read-only view of the key fields
(code, agency, fees and time limits per channel, aliases, ``checked_on``, unverified fields marked).
A structured form for every nested list (papers by case, legal basis) would be a second schema to
keep in step with ``procedures.schema``; the YAML is the one the files and the docs already use.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.admin.common import body, error, ok, staff
from procedures.editing import EditError, Editor, parse_yaml

NO_PROCEDURE = "Không tìm thấy thủ tục này."
BAD_PAGING = "Tham số “limit” và “offset” phải là số nguyên không âm."
BAD_SOURCE = "Tham số “source” phải là all, hand_written hoặc imported."
SAVED = "Đã áp dụng: bot trả lời theo nội dung mới từ tin nhắn tiếp theo."
UNCHANGED = "Không có thay đổi nào so với bản đang dùng."


def _editor(request: Request) -> Editor:
    return Editor(versions_db=request.app.state.config.app_database)


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name, "")
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise EditError(name, BAD_PAGING)
    return int(value)


async def list_procedures(request: Request) -> Response:
    """The catalogue, records to check first."""
    await staff(request)
    try:
        limit, offset = _int(request, "limit", 50), _int(request, "offset", 0)
    except EditError as problem:
        return error(problem.message, 400, field=problem.field)
    source = request.query_params.get("source", "all")
    if source not in ("all", "hand_written", "imported"):
        return error(BAD_SOURCE, 400, field="source")
    q = request.query_params.get("q", "")[:200]
    return ok(await run_in_threadpool(_editor(request).list, q=q, limit=limit, offset=offset, source=source))


async def show(request: Request) -> Response:
    await staff(request)
    editor, procedure_id = _editor(request), request.path_params["id"]
    record, tag = await run_in_threadpool(lambda: (editor.record(procedure_id), editor.etag(procedure_id)))
    if record is None:
        return error(NO_PROCEDURE, 404)
    response = ok(record)
    response.headers["ETag"] = f'"{tag}"'
    return response


async def show_yaml(request: Request) -> Response:
    await staff(request)
    source = await run_in_threadpool(_editor(request).source, request.path_params["id"])
    if source is None:
        return error(NO_PROCEDURE, 404)
    response = ok(source)
    response.headers["ETag"] = f'"{source["etag"]}"'
    return response


async def versions(request: Request) -> Response:
    await staff(request)
    return ok({"versions": await run_in_threadpool(_editor(request).versions, request.path_params["id"])})


async def update(request: Request) -> Response:
    """Save the whole record under its id (a new id adds a procedure)."""
    session = await staff(request)
    expected = request.headers.get("if-match")
    if expected is not None:
        expected = expected.strip().removeprefix("W/").strip('"')
    return await _save(request, request.path_params["id"], await body(request), session.username, expected=expected)


async def create(request: Request) -> Response:
    """Add a procedure (409 if its id exists)."""
    session = await staff(request)
    record = await body(request)
    procedure_id = record.get("id") if isinstance(record, dict) else None
    if not isinstance(procedure_id, str):
        return error("Trường “id”: thiếu mã thủ tục (ví dụ “ho-chieu”).", 400, field="id")
    return await _save(request, procedure_id, record, session.username, create=True)


async def _save(request: Request, procedure_id: str, record, author: str, create: bool = False,
                expected: str | None = None) -> Response:
    try:
        version = await run_in_threadpool(lambda: _editor(request).save(procedure_id, record, author, create=create,
                                                                        expected=expected))
    except EditError as problem:
        return error(problem.message, problem.status, field=problem.field)
    message = SAVED if version.pop("changed") else UNCHANGED
    return ok({"ok": True, "message": message, "version": version or None}, status=201 if create else 200)


async def parse(request: Request) -> Response:
    """YAML text → the record (for the page's editor)."""
    await staff(request)
    data = await body(request)
    try:
        record = parse_yaml(data.get("yaml") if isinstance(data, dict) else None)
    except EditError as problem:
        return error(problem.message, 400, field=problem.field)
    return ok({"record": record})


def routes() -> list[Route]:
    return [
        Route("/admin/api/procedures", list_procedures, methods=["GET"]),
        Route("/admin/api/procedures", create, methods=["POST"]),
        Route("/admin/api/procedures/parse", parse, methods=["POST"]),
        Route("/admin/api/procedures/{id}", show, methods=["GET"]),
        Route("/admin/api/procedures/{id}", update, methods=["PUT"]),
        Route("/admin/api/procedures/{id}/yaml", show_yaml, methods=["GET"]),
        Route("/admin/api/procedures/{id}/versions", versions, methods=["GET"]),
    ]


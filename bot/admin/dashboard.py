"""Staff tools: the dashboard (see ``bot.admin``), a thin route over ``bot.dashboard``.

- ``GET /admin/api/dashboard?days=30`` → the figures (``bot.dashboard.dashboard``): rows per
  day (conversations by channel, citizen messages, bot turns, fallbacks and their rate,
  handovers and their rate, new drafts), totals (with the handover wait median / p90 and the
  ratings), the top intents and procedures, dossiers by state. ``days`` 1–366 (else 400).
- ``…&format=csv`` → the same rows as a CSV download (``thong-ke.csv``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.admin.common import NO_STORE, error, ok, staff
from bot.dashboard import dashboard, dashboard_csv

BAD_DAYS = "Số ngày phải là số nguyên từ 1 đến 366."


def _name(procedure_id: str) -> str:
    from procedures import default_catalogue

    procedure = default_catalogue().get(procedure_id)
    return procedure.name if procedure is not None else procedure_id


async def figures(request: Request) -> Response:
    await staff(request)
    raw = request.query_params.get("days", "30")
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 366):
        return error(BAD_DAYS, 400)
    config = request.app.state.config
    result = await run_in_threadpool(dashboard, config.app_database, config.tracker_url, int(raw), None, _name)
    if request.query_params.get("format") == "csv":
        return Response(dashboard_csv(result), media_type="text/csv; charset=utf-8",
                        headers={**NO_STORE, "Content-Disposition": 'attachment; filename="thong-ke.csv"'})
    return ok(result)


def routes() -> list[Route]:
    return [Route("/admin/api/dashboard", figures)]

"""The JSON endpoints. Docstrings are their OpenAPI descriptions (YAML)."""

from __future__ import annotations

import psycopg
import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mmtasks.domain import parse_symbol
from mmtasks.errors import ValidationError
from mmtasks.registry.status import symbol_status
from mmtasks.web.fleet_view import fleet_view
from mmtasks.web.health import deep_health
from mmtasks.web.ledger_reads import curves, recent_fills
from mmtasks.web.sources import Sources, now_ms
from mmtasks.web.symbol_view import symbol_page

FILLS_SHOWN = 500
UNAVAILABLE = (redis.RedisError, psycopg.Error, OSError)


def _unavailable(exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"error": f"a dependency is unavailable: {type(exc).__name__}: {exc}"}, status_code=503
    )


async def health(request: Request) -> Response:
    """
    summary: Liveness (200 while serving); with deep=1 also Redis, Postgres and the connector
    parameters:
      - {name: deep, in: query, required: false, schema: {type: string, enum: ["1"]}}
    responses:
      200: {description: serving (and, with deep=1, every dependency is ok)}
      503: {description: "deep=1: a dependency is down; `checks` says which"}
    """
    if request.query_params.get("deep") not in ("1", "true"):
        return JSONResponse({"status": "ok"})
    report = await run_in_threadpool(deep_health, request.app.state.sources)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


async def status(request: Request) -> Response:
    """
    summary: The fleet and every symbol, as the mmtasks.admin.status task reports them
    responses:
      200: {description: "`fleet` and `symbols` (state, healthy, price age, queue depth, ...)"}
      503: {description: Redis or Postgres unavailable}
    """
    sources: Sources = request.app.state.sources
    try:
        return JSONResponse(await run_in_threadpool(sources.status))
    except UNAVAILABLE as exc:
        return _unavailable(exc)


async def fleet(request: Request) -> Response:
    """
    summary: The dashboard's fleet view (status plus exposure, limits, fills today, latency)
    responses:
      200: {description: status with `extras` per symbol and a fleet `summary`}
      503: {description: Redis or Postgres unavailable}
    """
    try:
        return JSONResponse(await request.app.state.view.get())
    except UNAVAILABLE as exc:
        return _unavailable(exc)


def _symbol_page(sources: Sources, symbol: str) -> dict[str, object] | None:
    record = next((r for r in sources.records() if r.symbol == symbol), None)
    if record is None:
        return None
    now = now_ms()
    entry = symbol_status(record, sources.reads(now))
    with sources.pg.connection() as conn:
        fills, curve = recent_fills(conn, symbol, FILLS_SHOWN), curves(conn, symbol)
    fills_today = sum(1 for f in fills if f["ts_ms"] >= now - now % 86_400_000)
    view = fleet_view({"fleet": {}, "symbols": [entry]}, sources.redis, {symbol: fills_today}, now)
    return symbol_page(sources.redis, symbol, view["symbols"][0], fills, curve)


async def symbol(request: Request) -> Response:
    """
    summary: One symbol's page data (status, resting orders, candles, fills, curves, events)
    parameters:
      - {name: symbol, in: path, required: true, schema: {type: string}}
    responses:
      200: {description: the page's data; money as decimal strings}
      404: {description: the symbol is not registered}
      422: {description: not a symbol}
    """
    try:
        name = parse_symbol(request.path_params["symbol"])
    except ValidationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    try:
        page = await run_in_threadpool(_symbol_page, request.app.state.sources, name)
    except UNAVAILABLE as exc:
        return _unavailable(exc)
    if page is None:
        return JSONResponse({"error": f"symbol {name} is not registered"}, status_code=404)
    return JSONResponse(page)

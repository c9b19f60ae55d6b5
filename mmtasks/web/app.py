"""The Starlette app: routes, the OpenAPI description, and the connections' lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from celery import Celery
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.schemas import SchemaGenerator
from starlette.staticfiles import StaticFiles

from mmtasks.settings import Settings
from mmtasks.web import routes
from mmtasks.web.auth import COOKIE, TokenAuth
from mmtasks.web.broadcast import EventBroadcast
from mmtasks.web.collector import FleetCollector
from mmtasks.web.config import WebSettings
from mmtasks.web.feed import feed_endpoint
from mmtasks.web.sources import Sources
from mmtasks.web.ticks import TickBoard
from mmtasks.web.view_cache import ViewCache

STATIC = Path(__file__).parent / "static"
TITLE = "mmtasks web"

schemas = SchemaGenerator({"openapi": "3.0.0", "info": {"title": TITLE, "version": "1"}})


async def openapi(request: Request) -> Response:
    """Return this API's OpenAPI description as JSON."""
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


async def metrics(request: Request) -> Response:
    """
    summary: Prometheus figures of the fleet, read from Redis and Postgres now
    responses:
      200:
        description: text exposition format
    """
    body = await run_in_threadpool(generate_latest, request.app.state.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def index(request: Request) -> Response:
    """Serve the dashboard (a token passed as ?token= is kept in a cookie for its assets)."""
    response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
    token = request.query_params.get("token")
    if token and request.app.state.web.token:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


FIRST_CONSUMERS_WAIT_S = 5.0


def create_app(settings: Settings, web: WebSettings, celery_app: Celery) -> Starlette:
    """Return the web app reading the fleet described by settings."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sources = Sources.open(settings, web, celery_app)
        # /metrics and /status say who consumes each queue from their first request on: wait
        # for the first answer (about a second; bounded, a broker that is down answers at once).
        await run_in_threadpool(sources.consumers.wait_first, FIRST_CONSUMERS_WAIT_S)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FleetCollector(sources))
        app.state.sources, app.state.registry, app.state.web = sources, registry, web
        app.state.view = ViewCache(sources, web.view_ttl_s)
        app.state.broadcast = EventBroadcast(settings.redis_url)  # one reader for all feeds
        await app.state.broadcast.start()
        app.state.ticks = TickBoard(sources.aredis, web.tick_every_s / 2)  # one read for all
        try:
            yield
        finally:
            await app.state.broadcast.stop()
            await sources.aredis.aclose()
            await run_in_threadpool(sources.close)

    route_list: list[Any] = [
        Route("/", index, include_in_schema=False),
        Route("/health", routes.health),
        Route("/status", routes.status),
        Route("/metrics", metrics),
        Route("/api/fleet", routes.fleet),
        Route("/api/symbols/{symbol}", routes.symbol),
        Route("/openapi.json", openapi, include_in_schema=False),
        WebSocketRoute("/ws", feed_endpoint),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=route_list,
        middleware=[Middleware(TokenAuth, token=web.token or None)],
        lifespan=lifespan,
    )


def error(message: str, status_code: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)

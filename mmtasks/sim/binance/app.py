"""The Binance-speaking simulator as an ASGI app: REST paths, websockets, test-bed control."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from mmtasks.sim.binance.control import control
from mmtasks.sim.binance.rest import ENDPOINTS, BinanceSim, rest
from mmtasks.sim.binance.sockets import market_socket, spot_ws_api, usdm_user


def create_app(sim: BinanceSim) -> Starlette:
    """Return the simulator's ASGI app."""
    entry = rest(sim)
    paths = sorted({path for _, path in ENDPOINTS})
    routes: list[Any] = [Route(p, entry, methods=["GET", "POST", "PUT", "DELETE"]) for p in paths]
    routes += [
        Route("/_sim/{action}", control(sim), methods=["GET", "POST"]),
        WebSocketRoute("/private/ws", usdm_user(sim)),
        WebSocketRoute("/market/ws/{n}", market_socket(sim.usdm_market)),
        WebSocketRoute("/public/ws/{n}", market_socket(sim.usdm_market)),
        WebSocketRoute("/market/ws", market_socket(sim.usdm_market)),
        WebSocketRoute("/public/ws", market_socket(sim.usdm_market)),
        WebSocketRoute("/ws/{n}", market_socket(sim.spot_market)),
        WebSocketRoute("/ws-api/v3", spot_ws_api(sim)),
    ]
    return Starlette(routes=routes)

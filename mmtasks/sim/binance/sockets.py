"""The simulator's websocket endpoints: USDⓈ-M user streams (listen key), market streams, and
spot's WebSocket API for its user data stream."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.websockets import WebSocket

from mmtasks.sim.binance.errors import BinanceError
from mmtasks.sim.binance.rest import BinanceSim
from mmtasks.sim.binance.streams import (
    MarketStreams,
    Outbox,
    serve_market,
    serve_requests,
    serve_user,
    wait_until_accepted,
)

# -- websockets ------------------------------------------------------------------------------


def usdm_user(sim: BinanceSim) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(ws: WebSocket) -> None:
        key = ws.query_params.get("listenKey", "")
        if key not in sim.listen_keys.values():
            await ws.close(code=4001, reason="Invalid listenKey.")
            return
        await wait_until_accepted(sim.usdm_users)
        await ws.accept()
        await serve_user(ws, sim.usdm_users)

    return endpoint


def market_socket(streams: MarketStreams) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(ws: WebSocket) -> None:
        await serve_market(ws, streams)

    return endpoint


def spot_ws_api(sim: BinanceSim) -> Callable[[WebSocket], Awaitable[None]]:
    """The WebSocket API, as far as the user data stream needs it (ccxt's spot watch_orders)."""

    async def endpoint(ws: WebSocket) -> None:
        await wait_until_accepted(sim.spot_users)
        await serve_requests(ws, partial(_ws_api_request, sim), sim.spot_users.outboxes.discard)

    return endpoint


def _ws_api_request(sim: BinanceSim, request: dict[str, Any], outbox: Outbox) -> None:
    ident, method = request.get("id"), request.get("method")
    params = request.get("params") or {}
    if method == "userDataStream.subscribe.signature":
        try:
            _check_ws_signature(sim, params)
        except BinanceError as exc:
            outbox.push(json.dumps({"id": ident, "status": exc.status, "error": exc.body()}))
            return
        sim.spot_users.outboxes.add(outbox)
        outbox.push(json.dumps({"id": ident, "status": 200, "result": {"subscriptionId": 0}}))
    elif method in ("ping", "time"):
        result = {"serverTime": sim.spot.engine.clock()} if method == "time" else {}
        outbox.push(json.dumps({"id": ident, "status": 200, "result": result}))
    else:
        outbox.push(
            json.dumps(
                {
                    "id": ident,
                    "status": 400,
                    "error": {"code": -1020, "msg": "This operation is not supported."},
                }
            )
        )


def _check_ws_signature(sim: BinanceSim, params: dict[str, Any]) -> None:
    fields = {k: str(v) for k, v in params.items() if k != "signature"}
    payload = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
    key = fields.get("apiKey", "")
    secret = sim.signer.keys.get(key)
    if secret is None:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    # The same checks as REST (key, timestamp window, HMAC), over the sorted parameters.
    sim.signer.check(
        {"x-mbx-apikey": key},
        "",
        payload + "&signature=" + str(params.get("signature", "")),
        fields,
    )

"""`/_sim/<action>`: the test bed's control of the simulator (prices, faults, bans, dropped
sockets, the markets' clock) and the figures a test reads."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mmtasks.sim.binance import shapes
from mmtasks.sim.binance.rest import BinanceSim

# -- test-bed control ------------------------------------------------------------------------


def control(sim: BinanceSim) -> Callable[[Request], Awaitable[Response]]:
    """`/_sim/<action>`: move prices, schedule faults, ban, drop sockets, read figures."""

    async def endpoint(request: Request) -> Response:
        action = request.path_params["action"]
        raw = await request.body()
        data: dict[str, Any] = {**request.query_params, **(json.loads(raw) if raw else {})}
        market = sim.spot if data.get("market") == "spot" else sim.usdm
        if action == "price":
            tick = market.engine.apply_price(
                data["symbol"],
                Decimal(str(data["price"])),
                Decimal(str(data["volume"])) if data.get("volume") is not None else None,
            )
            return JSONResponse(
                {
                    "symbol": tick.symbol,
                    "price": shapes.num(tick.price),
                    "seq": tick.seq,
                    "ts": tick.ts_event_ms,
                }
            )
        if action == "faults":
            f = sim.faults
            f.accept_then_fail = int(data.get("accept_then_fail", f.accept_then_fail))
            f.fail_status = int(data.get("fail_status", f.fail_status))
            f.fail_body = str(data.get("fail_body", f.fail_body))
            f.latency_ms = int(data.get("latency_ms", f.latency_ms))
            for item in data.get("error_next", []):
                f.error_next.append(
                    (
                        item["path"],
                        str(item.get("method", "")).upper(),
                        int(item["status"]),
                        int(item["code"]),
                        str(item["msg"]),
                        int(item.get("retry_after", 0)),
                    )
                )
            for item in data.get("delay_next", []):
                f.delay_next.append(
                    (item["path"], str(item.get("method", "")).upper(), int(item["ms"]))
                )
            return JSONResponse({"ok": True})
        if action == "clock":  # the markets' time, moved: trades and orders made "days ago"
            sim.clock.shift_ms = int(data.get("shift_ms", 0))
            return JSONResponse({"shift_ms": sim.clock.shift_ms})
        if action == "ban":
            until = sim.limits.ban(str(data.get("ip", "*")), float(data["seconds"]))
            return JSONResponse({"banned_until_ms": until})
        if action == "drop-user-streams":
            hold_s = float(data.get("hold_s", 0))
            dropped = sim.usdm_users.drop_all(hold_s) + sim.spot_users.drop_all(hold_s)
            return JSONResponse({"dropped": dropped})
        if action == "stats":
            return JSONResponse(stats(sim))
        if action == "orders":
            return JSONResponse([market.order_shape(o) for o in market.engine.open_orders()])
        if action == "trades":
            return JSONResponse(
                [market.trade_shape(t) for t in market.engine.trades("", 0, 1_000_000)]
            )
        return JSONResponse({"error": f"unknown control action {action!r}"}, 404)

    return endpoint


def stats(sim: BinanceSim) -> dict[str, Any]:
    """The figures a test reads: weight per minute so far, 429s and 418s answered, requests."""
    return {
        "requests": sim.requests,
        "requests_by_path": dict(sim.requests_by_path),
        "user_sockets": len(sim.usdm_users.outboxes) + len(sim.spot_users.outboxes),
        "answered_429": sim.limits.answered_429,
        "answered_418": sim.limits.answered_418,
        "weight_by_minute": sim.limits.weight_by_minute(),
        "limits": {
            "weight_per_minute": sim.limits.config.weight_per_minute,
            "orders_per_10s": sim.limits.config.orders_per_10s,
            "orders_per_minute": sim.limits.config.orders_per_minute,
        },
    }

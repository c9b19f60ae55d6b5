"""One symbol's page: resting grid orders, recent candles, fills, and position/equity curves."""

from __future__ import annotations

import json
from typing import Any

import redis

from mmtasks.decimals import canon
from mmtasks.state.keys import keys_for
from mmtasks.web.events_reader import recent_events

INBOX_SCAN = 5000  # newest inbox entries searched for candle events
CANDLES_SHOWN = 300


def resting_orders(client: redis.Redis, symbol: str) -> list[dict[str, Any]]:
    """Return the grid's orders in flight or resting, highest price first."""
    orders = []
    for text in client.hvals(keys_for(symbol).slots):
        slot = json.loads(text)
        if slot.get("status") not in ("LOCKED", "PENDING") or not slot.get("price"):
            continue
        orders.append(
            {
                "level": slot.get("level"),
                "status": slot["status"],
                "side": slot.get("side"),
                "price": slot["price"],
                "qty": slot.get("qty"),
                "filled_qty": slot.get("filled_qty") or "0",
                "closing": slot.get("closing") in ("1", True),
                "client_order_id": slot.get("client_order_id"),
            }
        )
    return sorted(orders, key=lambda o: -float(o["price"]))


def _candle(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "open_ms": int(d["open_ms"]),
        "open": str(d["open"]),
        "high": str(d["high"]),
        "low": str(d["low"]),
        "close": str(d["close"]),
        "volume": str(d["volume"]),
        "closed": bool(d["closed"]),
    }


def candles(client: redis.Redis, symbol: str) -> list[dict[str, Any]]:
    """Return recent candles, oldest first: the worker's window plus those still in the inbox."""
    k = keys_for(symbol)
    by_open: dict[int, dict[str, Any]] = {}
    rows: Any = client.xrevrange(k.inbox, count=INBOX_SCAN)
    for _, fields in reversed(rows):
        event = json.loads(fields.get("e", "{}"))
        if event.get("kind") == "candle":
            by_open[int(event["open_ms"])] = _candle(event)
    for text in client.hvals(k.candles):  # what the worker applied wins over the inbox copy
        candle = _candle(json.loads(text))
        by_open[candle["open_ms"]] = candle
    return [by_open[t] for t in sorted(by_open)][-CANDLES_SHOWN:]


def config_of(client: redis.Redis, symbol: str) -> dict[str, Any]:
    """Return the symbol's strategy, risk and venue rules as the worker stores them."""
    raw = client.hgetall(keys_for(symbol).config)
    out: dict[str, Any] = {}
    for name in ("strategy", "risk", "rules"):
        try:
            out[name] = json.loads(raw[name]) if raw.get(name) else None
        except ValueError:
            out[name] = None
    return out


def symbol_page(
    client: redis.Redis,
    symbol: str,
    entry: dict[str, Any],
    fills: list[dict[str, Any]],
    curve: list[Any],
) -> dict[str, Any]:
    """Return everything the symbol page draws."""
    return {
        "symbol": symbol,
        "status": entry,
        "config": config_of(client, symbol),
        "orders": resting_orders(client, symbol),
        "candles": candles(client, symbol),
        "fills": fills,
        "curves": [
            {"ts_ms": p.ts_ms, "position": canon(p.position), "equity": canon(p.equity)}
            for p in curve
        ],
        "events": recent_events(client, symbol=symbol),
    }

"""The dashboard's fleet view: the status report plus what an operator reads next to it.

Per symbol: display precision (from the venue's tick and step size), exposure, distance to
each limit, fills today, order counters and tick-to-order p99. For the fleet: totals per quote
currency (a USDT sum is never added to a BTC one) and the symbols closest to a limit.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import redis

from mmtasks.decimals import canon
from mmtasks.metrics import RECENT_WINDOW_S, SymbolMetrics, read_metrics, read_recent
from mmtasks.state.keys import RISK, keys_for

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "TRY", "BTC", "ETH", "BNB")
CLOSEST_SHOWN = 5


def quote_of(symbol: str) -> str:
    """Return the quote currency of symbol by its suffix ('?' when unknown)."""
    return next((q for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)), "?")


def decimals_of(step: str | None, default: int) -> int:
    """Return how many decimals a tick or step size has ('0.01' -> 2)."""
    try:
        exponent = Decimal(step).normalize().as_tuple().exponent if step else None
    except InvalidOperation:
        return default
    return max(0, -exponent) if isinstance(exponent, int) else default


def _dec(text: Any) -> Decimal:
    try:
        return Decimal(str(text)) if text not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def start_of_day_ms(now_ms: int) -> int:
    """Return midnight UTC of the day of now_ms."""
    day = datetime.fromtimestamp(now_ms / 1000, tz=UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return int(day.timestamp() * 1000)


def _rules(client: redis.Redis, symbols: list[str]) -> dict[str, dict[str, str]]:
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        pipe.hget(keys_for(symbol).config, "rules")
    out = {}
    for symbol, raw in zip(symbols, pipe.execute(), strict=True):
        try:
            out[symbol] = json.loads(raw) if raw else {}
        except ValueError:
            out[symbol] = {}
    return out


def _usage(value: Decimal, limit: Any) -> float | None:
    limit_d = _dec(limit)
    return float(abs(value) / limit_d) if limit_d > 0 else None


def symbol_extras(
    entry: dict[str, Any],
    rules: dict[str, str],
    metrics: SymbolMetrics,
    fills_today: int,
    recent: SymbolMetrics | None = None,
) -> dict[str, Any]:
    """Return the dashboard's figures of one status entry (latency over the recent window)."""
    recent = metrics if recent is None else recent
    qty = _dec(entry["position"]["qty"])
    price = _dec(entry["last_price"])
    exposure = abs(qty) * price
    risk = entry["risk"]
    open_orders = entry["open_orders"]["open"] + entry["open_orders"]["pending"]
    age_ms = entry["last_price_age_ms"]
    limits = {
        "position": _usage(qty, risk.get("max_position")),
        "open_orders": _usage(Decimal(open_orders), risk.get("max_open_orders")),
        "price_age": (age_ms / (risk["stale_after_s"] * 1000) if age_ms is not None else None),
    }
    p99 = recent.tick_to_order.quantile(0.99)
    return {
        "quote": quote_of(entry["symbol"]),
        "price_decimals": decimals_of(rules.get("tick_size"), 2),
        "qty_decimals": decimals_of(rules.get("step_size"), 4),
        "exposure": canon(exposure),
        "limits": limits,
        "fills_today": fills_today,
        "orders": metrics.orders,
        "tick_to_order_p99_ms": round(p99, 1) if p99 is not None else None,
        "step_p99_ms": _round(recent.step.quantile(0.99)),
        "latency_window_s": RECENT_WINDOW_S,
    }


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def fleet_totals(entries: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Return exposure and PnL summed per quote currency."""
    sums: dict[str, dict[str, Decimal]] = {}
    for entry in entries:
        bucket = sums.setdefault(entry["extras"]["quote"], {})
        position = entry["position"]
        for name, value in (
            ("exposure", entry["extras"]["exposure"]),
            ("realized_pnl", position["realized_pnl"]),
            ("unrealized_pnl", position["unrealized_pnl"]),
            ("fees", position["fees"]),
            ("volume", position["volume"]),
        ):
            bucket[name] = bucket.get(name, Decimal(0)) + _dec(value)
    return {quote: {k: canon(v) for k, v in b.items()} for quote, b in sorted(sums.items())}


def closest_to_limits(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the symbol limits nearest to being reached, nearest first."""
    usages = [
        {"symbol": e["symbol"], "limit": name, "usage": round(usage, 4)}
        for e in entries
        for name, usage in e["extras"]["limits"].items()
        if usage is not None
    ]
    return sorted(usages, key=lambda u: -u["usage"])[:CLOSEST_SHOWN]


def fleet_view(
    status: dict[str, Any], client: redis.Redis, fills_today: dict[str, int], now_ms: int
) -> dict[str, Any]:
    """Return status with `extras` on every symbol and a `summary` of the fleet."""
    entries = status["symbols"]
    symbols = [e["symbol"] for e in entries]
    rules, metrics = _rules(client, symbols), read_metrics(client, symbols)
    recent = read_recent(client, symbols, now_ms / 1000)
    for entry in entries:
        symbol = entry["symbol"]
        entry["extras"] = symbol_extras(
            entry, rules[symbol], metrics[symbol], fills_today.get(symbol, 0), recent[symbol]
        )
    status["summary"] = {
        "totals": fleet_totals(entries),
        "closest_limits": closest_to_limits(entries),
        "fills_today": sum(fills_today.get(s, 0) for s in symbols),
        "generated_ms": now_ms,
        "risk": fleet_risk_view(client),
    }
    return status


def fleet_risk_view(client: redis.Redis) -> dict[str, Any]:
    """Return the fleet risk task's last figures, breaches and limits (docs/risk.md)."""
    raw: dict[Any, Any] = client.hgetall(RISK)
    cache = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }

    def parsed(name: str) -> Any:
        return json.loads(cache[name]) if cache.get(name) else None

    return {
        "state": cache.get("state"),
        "figures": parsed("figures"),
        "limits": parsed("limits"),
        "breaches": parsed("breaches") or [],
        "updated_ms": int(cache["updated_ms"]) if cache.get("updated_ms") else None,
    }


def now_ms() -> int:
    return int(time.time() * 1000)

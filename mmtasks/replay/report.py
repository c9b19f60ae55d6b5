"""The replay report: exact money figures from the fills, statistics from the equity curve.

Money (PnL, fees, net, volume, drawdown value, exposure) is exact Decimal: floats only locate
the drawdown's peak and trough and the largest exposure, whose values are then recomputed from
the Decimal state. Ratios (Sharpe, Sortino, time in market) are statistics and use floats.

Definitions: capital used = the largest position at cost (|qty| x average cost); return =
net / capital used; turnover = volume / capital used; a round trip is a closing fill; Sharpe
and Sortino are annualised (365 days) over daily changes of net equity, without a risk-free rate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from mmtasks.decimals import ZERO, canon
from mmtasks.replay.engine import Mark
from mmtasks.replay.session import Outcome

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Curve:
    """Per-row floats of the position and equity (for statistics and the plot)."""

    qty: np.ndarray
    gross: np.ndarray  # realized + unrealized at the row's close
    net: np.ndarray  # gross - fees


def _state_columns(marks: list[Mark], n: int) -> tuple[np.ndarray, ...]:
    idx = np.array([m.index for m in marks], dtype=np.int64)
    which = np.searchsorted(idx, np.arange(n), side="right") - 1

    def column(values: list[float]) -> np.ndarray:
        arr = np.array([0.0, *values])
        return arr[which + 1]

    return (
        column([float(m.qty) for m in marks]),
        column([float(m.cost_basis) * (1 if m.qty >= 0 else -1) for m in marks]),
        column([float(m.realized_pnl) for m in marks]),
        column([float(m.fees) for m in marks]),
        which,
    )


def curve(outcome: Outcome) -> Curve:
    """Return the per-row position and equity curves (floats)."""
    data = outcome.data
    n = len(data)
    qty, signed_basis, realized, fees, _ = _state_columns(outcome.engine.marks, n)
    close = data.floats("close")
    gross = realized + qty * close - signed_basis
    return Curve(qty=qty, gross=gross, net=gross - fees)


def _mark_at(marks: list[Mark], row: int) -> Mark | None:
    found = None
    for m in marks:
        if m.index > row:
            break
        found = m
    return found


def _net_at(outcome: Outcome, row: int) -> Decimal:
    """Return the exact net equity at the close of row."""
    m = _mark_at(outcome.engine.marks, row)
    if m is None:
        return ZERO
    close = outcome.data.dec("close", row)
    return m.realized_pnl + (close - m.avg_cost) * m.qty - m.fees


def _ratios(net: np.ndarray, ts_ms: np.ndarray) -> tuple[float | None, float | None]:
    days = ts_ms // DAY_MS
    ends = [*np.flatnonzero(np.diff(days)).tolist(), len(days) - 1]
    daily = np.diff(np.concatenate(([0.0], net[ends])))
    if len(daily) < 2 or not np.any(daily):
        return None, None
    mean, std = float(np.mean(daily)), float(np.std(daily, ddof=1))
    downside = daily[daily < 0]
    down = float(np.sqrt(np.mean(np.square(downside)))) if len(downside) else 0.0
    year = math.sqrt(365)
    return (mean / std * year if std else None), (mean / down * year if down else None)


STATE_SHOWN = ("status", "breaker", "breaker_reason", "losing_streak", "equity_hwm")


def summarize(outcome: Outcome) -> dict[str, Any]:
    """Return the report as JSON-ready data (money as decimal strings)."""
    engine, data = outcome.engine, outcome.data
    n = len(data)
    pos = engine.grid.position
    last = data.dec("close", n - 1)
    unrealized = pos.unrealized_pnl(last)
    c = curve(outcome)
    peak_rows = np.maximum.accumulate(c.net)
    dd = peak_rows - c.net
    trough = int(np.argmax(dd)) if n else 0
    peak = int(np.argmax(c.net[: trough + 1])) if n else 0
    max_dd = _net_at(outcome, peak) - _net_at(outcome, trough) if dd[trough] > 0 else ZERO
    # longest time under water (ms), from a peak to the next new high (or the end)
    under = dd > 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], under.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]  # each spell under water: [start, end)
    longest = 0
    if len(starts):
        spans = data.ts_ms[np.minimum(ends, n - 1)] - data.ts_ms[np.maximum(starts - 1, 0)]
        longest = max(0, int(spans.max()))
    basis = [m.cost_basis for m in engine.marks]
    capital = max(basis, default=ZERO)
    exposure_row = int(np.argmax(np.abs(c.qty) * data.floats("close"))) if n else 0
    held = _mark_at(engine.marks, exposure_row)
    exposure = abs(held.qty) * data.dec("close", exposure_row) if held else ZERO
    net = pos.realized_pnl + unrealized - pos.fees
    sharpe, sortino = _ratios(c.net, data.ts_ms)
    rows_ms = np.diff(data.ts_ms, append=data.ts_ms[-1]) if n else np.array([])
    in_market = float(np.sum(rows_ms[c.qty != 0]) / max(np.sum(rows_ms), 1))
    round_trips = sum(1 for f in engine.fills if f.closing)
    return {
        "symbol": engine.config.symbol,
        "rows": n,
        "from_ms": int(data.ts_ms[0]) if n else 0,
        "to_ms": int(data.ts_ms[-1]) if n else 0,
        "skipped_rows": data.skipped,
        "last_price": canon(last),
        "realized_pnl": canon(pos.realized_pnl),
        "unrealized_pnl": canon(unrealized),
        "fees": canon(pos.fees),
        "net_pnl": canon(net),
        "capital_used": canon(capital),
        "return_on_capital": canon(net / capital) if capital else None,
        "max_drawdown": canon(max_dd),
        "max_drawdown_duration_s": longest // 1000,
        "sharpe_daily": sharpe,
        "sortino_daily": sortino,
        "volume": canon(pos.volume),
        "turnover": canon(pos.volume / capital) if capital else None,
        "fills": len(engine.fills),
        "maker_fills": sum(1 for f in engine.fills if f.maker),
        "taker_fills": sum(1 for f in engine.fills if not f.maker),
        "round_trips": round_trips,
        "avg_profit_per_round_trip": canon(pos.realized_pnl / round_trips) if round_trips else None,
        "time_in_market": in_market,
        "max_inventory": canon(max((abs(m.qty) for m in engine.marks), default=ZERO)),
        "max_exposure": canon(exposure),
        "final_position": canon(pos.qty),
        "orders_placed": engine.venue.placed,
        "orders_cancelled": engine.venue.cancelled,
        "orders_rejected": engine.venue.rejected,
        "core_evaluations": engine.evaluations,
        "elapsed_s": round(outcome.elapsed_s, 4),
        # What the worker's state hash would hold, and the events its decisions emitted.
        "state": {field: engine.meta.get(field, "") for field in STATE_SHOWN},
        "events": [{"type": e["type"], "data": json.loads(e["data"])} for e in engine.step_events],
    }


def _fmt(value: object) -> str:
    # Display only: the JSON keeps every digit.
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str) and value.lstrip("-").replace(".", "", 1).isdigit():
        number = Decimal(value)
        if number == number.to_integral_value():
            return value
        return f"{number:.2f}" if abs(number) >= 1 else f"{number:.4g}"
    return str(value)


def render(report: dict[str, Any]) -> str:
    """Return the report as a short human summary."""
    r = report
    duration = r["max_drawdown_duration_s"]
    lines = [
        f"{r['symbol']}: {r['rows']} rows"
        + (f" ({r['skipped_rows']} bad rows skipped)" if r["skipped_rows"] else ""),
        f"  net {_fmt(r['net_pnl'])}  = realized {_fmt(r['realized_pnl'])} + unrealized "
        f"{_fmt(r['unrealized_pnl'])} - fees {_fmt(r['fees'])}",
        f"  return on capital {_fmt(r['return_on_capital'])} "
        f"(capital used {_fmt(r['capital_used'])})",
        f"  max drawdown {_fmt(r['max_drawdown'])} over "
        f"{duration // 3600}h{duration % 3600 // 60:02d}m"
        f"  sharpe {_fmt(r['sharpe_daily'])}  sortino {_fmt(r['sortino_daily'])}",
        f"  fills {r['fills']} ({r['maker_fills']} maker, {r['taker_fills']} taker), "
        f"round trips {r['round_trips']}, avg {_fmt(r['avg_profit_per_round_trip'])} each",
        f"  volume {_fmt(r['volume'])}  turnover {_fmt(r['turnover'])}  time in market "
        f"{r['time_in_market']:.1%}",
        f"  max inventory {r['max_inventory']}  max exposure {_fmt(r['max_exposure'])}  "
        f"final position {r['final_position']}",
        f"  orders placed {r['orders_placed']}, cancelled {r['orders_cancelled']}, "
        f"rejected {r['orders_rejected']}; {r['core_evaluations']} core evaluations in "
        f"{r['elapsed_s']}s",
    ]
    state = r.get("state") or {}
    if state.get("breaker"):
        lines.append(
            f"  circuit breaker tripped: {state['breaker_reason']} -> {state['breaker']}"
            + (f" (status {state['status']})" if state.get("status") else "")
        )
    return "\n".join(lines)


SUMMED_MONEY = ("realized_pnl", "unrealized_pnl", "fees", "net_pnl", "capital_used", "volume")
SUMMED_COUNTS = (
    "rows",
    "fills",
    "maker_fills",
    "taker_fills",
    "round_trips",
    "orders_placed",
    "orders_cancelled",
    "orders_rejected",
    "core_evaluations",
)


def total(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the sums over several symbols' reports (capital used: the sum of each's largest).

    Drawdown and the ratios are per symbol only: the symbols' equity curves are not aligned in
    time here, so a portfolio drawdown would be a guess.
    """
    out: dict[str, Any] = {"symbols": [r["symbol"] for r in reports]}
    for key in SUMMED_MONEY:
        out[key] = canon(sum((Decimal(r[key]) for r in reports), ZERO))
    for key in SUMMED_COUNTS:
        out[key] = sum(int(r[key]) for r in reports)
    capital = Decimal(out["capital_used"])
    out["return_on_capital"] = canon(Decimal(out["net_pnl"]) / capital) if capital else None
    out["elapsed_s"] = round(sum(float(r["elapsed_s"]) for r in reports), 4)
    return out


def render_total(t: dict[str, Any]) -> str:
    """Return the total of several symbols as a short human summary."""
    return "\n".join(
        [
            f"TOTAL ({', '.join(t['symbols'])})",
            f"  net {_fmt(t['net_pnl'])}  = realized {_fmt(t['realized_pnl'])} + unrealized "
            f"{_fmt(t['unrealized_pnl'])} - fees {_fmt(t['fees'])}",
            f"  return on capital {_fmt(t['return_on_capital'])} "
            f"(capital used {_fmt(t['capital_used'])})",
            f"  fills {t['fills']} ({t['maker_fills']} maker, {t['taker_fills']} taker), "
            f"round trips {t['round_trips']}, volume {_fmt(t['volume'])}",
            f"  orders placed {t['orders_placed']}, cancelled {t['orders_cancelled']}, "
            f"rejected {t['orders_rejected']}; {t['core_evaluations']} core evaluations in "
            f"{t['elapsed_s']}s",
        ]
    )

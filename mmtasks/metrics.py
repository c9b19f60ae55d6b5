"""Figures a worker records in Redis so every process and host adds up: order counters and
latency histograms, one hash per symbol (`mm:{s}:metrics`), read by the web process at scrape.

A histogram is stored as one counter per fixed bucket (not cumulative: an observation touches
one field), plus `<name>_count` and `<name>_sum`; readers cumulate. Fields:

  orders_placed, orders_cancelled, orders_rejected   counters
  step_ms_le_<bound>, step_ms_count, step_ms_sum     step duration histogram (ms): from the
                                                     lock to the let-go, less the last write of
                                                     a step that sends nothing (it goes with
                                                     these figures)
  t2o_ms_le_<bound>, t2o_ms_count, t2o_ms_sum        tick-to-order histogram (ms)

The same fields go to `mm:{s}:metrics:<minute>` (unix time // 60, expiring after
RECENT_KEPT_S): `read_recent` sums the last RECENT_WINDOW_S of them, so the dashboard and status
show a recent p99, not one over the symbol's whole life (start-ups and earlier runs included).

The writers take a Redis client or a pipeline, so a step adds them to a round trip it makes
anyway. The key lives here until the key schema module (mmtasks/state/keys.py) adopts it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import redis

from mmtasks.state import wire
from mmtasks.state.keys import keys_for

# Upper bounds in milliseconds; the last bucket is +Inf.
BUCKETS_MS: tuple[float, ...] = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STEP = "step_ms"
TICK_TO_ORDER = "t2o_ms"
HISTOGRAMS = (STEP, TICK_TO_ORDER)
RECENT_WINDOW_S = 300  # what "recent" means on the dashboard and in status: the last 5 minutes
RECENT_KEPT_S = RECENT_WINDOW_S + 120  # each minute's hash outlives the window, then expires
METRICS_LUA = resources.files("mmtasks.state").joinpath("metrics.lua").read_text()


class OrderCount(StrEnum):
    """What happened to an order, as counted in `orders_<kind>`."""

    PLACED = "placed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# Stream event types (mmtasks.events.EventType values) counted by record_step.
EVENT_COUNTS = {
    "ORDER_CREATED": OrderCount.PLACED,
    "ORDER_CANCELLED": OrderCount.CANCELLED,
    "ORDER_REJECTED": OrderCount.REJECTED,
}


def metrics_key(symbol: str) -> str:
    """Return the metrics hash of symbol (same hash tag as the symbol's other keys)."""
    return keys_for(symbol).metrics


def _bound_text(bound: float) -> str:
    return f"{bound:g}"


def bucket_field(name: str, value_ms: float) -> str:
    """Return the field of the smallest bucket that holds value_ms."""
    for bound in BUCKETS_MS:
        if value_ms <= bound:
            return f"{name}_le_{_bound_text(bound)}"
    return f"{name}_le_inf"


def recent_key(symbol: str, minute: int) -> str:
    """Return the hash of symbol's observations in one minute (unix time // 60)."""
    return f"{metrics_key(symbol)}:{minute}"


def _observation(name: str, value_ms: float) -> list[str]:
    """Return the (where, field, increment) triples of one observation, flat."""
    value_ms = max(0.0, float(value_ms))
    total = f"{round(value_ms, 3):.3f}"
    return [
        "b",
        bucket_field(name, value_ms),
        "1",
        "b",
        f"{name}_count",
        "1",
        "b",
        f"{name}_sum",
        total,
    ]


def _call(symbol: str, triples: list[str], now_s: float | None) -> wire.Call | None:
    """Return the script call adding the triples to the all-time and the minute's hash."""
    if not triples:
        return None
    minute = recent_key(symbol, int((time.time() if now_s is None else now_s) // 60))
    return wire.Call(METRICS_LUA, [metrics_key(symbol), minute], [RECENT_KEPT_S, *triples])


def _add(pipe: redis.Redis, symbol: str, triples: list[str], now_s: float | None) -> None:
    """Queue one command adding the triples to the all-time and the minute's hash."""
    call = _call(symbol, triples, now_s)
    if call is not None:
        _queue(pipe, call)


def _queue(pipe: redis.Redis, call: wire.Call) -> None:
    pipe.eval(call.text, len(call.keys), *call.keys, *call.args)


def observe(
    pipe: redis.Redis, symbol: str, name: str, value_ms: float, now_s: float | None = None
) -> None:
    """Add one observation of histogram name, to the all-time hash and to its minute's."""
    _add(pipe, symbol, _observation(name, value_ms), now_s)


def step_calls(
    symbol: str,
    step_ms: float,
    tick_to_order_ms: float | None = None,
    events: Sequence[Mapping[str, str]] = (),
    now_s: float | None = None,
) -> list[wire.Call]:
    """Return the one script call recording a step: its duration, its tick-to-order time when
    it sent orders for a tick, and the orders its events placed, cancelled or rejected (sent
    with the step's last round trip: state/wire.py)."""
    triples = _observation(STEP, step_ms)
    if tick_to_order_ms is not None:
        triples += _observation(TICK_TO_ORDER, tick_to_order_ms)
    for kind, n in _order_counts(events).items():
        triples += ["a", f"orders_{kind.value}", str(n)]
    call = _call(symbol, triples, now_s)
    return [call] if call is not None else []


def record_step(
    pipe: redis.Redis,
    symbol: str,
    step_ms: float,
    tick_to_order_ms: float | None = None,
    events: Sequence[Mapping[str, str]] = (),
    now_s: float | None = None,
) -> None:
    """Queue `step_calls` on a client or a pipeline."""
    for call in step_calls(symbol, step_ms, tick_to_order_ms, events, now_s):
        _queue(pipe, call)


def count_orders(pipe: redis.Redis, symbol: str, kind: OrderCount | str, n: int = 1) -> None:
    """Add n to the symbol's counter of orders placed, cancelled or rejected."""
    if n:
        pipe.hincrby(metrics_key(symbol), f"orders_{OrderCount(kind).value}", n)


def _order_counts(events: Sequence[Mapping[str, str]]) -> dict[OrderCount, int]:
    counts: dict[OrderCount, int] = {}
    for event in events:
        kind = EVENT_COUNTS.get(event.get("type", ""))
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


@dataclass(frozen=True)
class Histogram:
    """A histogram as read back: cumulative counts per upper bound (ms), +Inf last."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_ms: float

    def quantile(self, q: float) -> float | None:
        """Return the q-quantile in ms, interpolated within its bucket (None when empty)."""
        if self.count == 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower  # beyond the last finite bound: report that bound
                inside = cumulative - below
                fraction = (rank - below) / inside if inside else 1.0
                return lower + (bound - lower) * fraction
            lower, below = bound, cumulative
        return lower


@dataclass(frozen=True)
class SymbolMetrics:
    """One symbol's recorded figures."""

    orders: dict[str, int]
    step: Histogram
    tick_to_order: Histogram


def _histogram(fields: Mapping[str, str], name: str) -> Histogram:
    cumulative, out = 0, []
    for bound in (*BUCKETS_MS, math.inf):
        text = "inf" if math.isinf(bound) else _bound_text(bound)
        cumulative += int(fields.get(f"{name}_le_{text}", 0) or 0)
        out.append((bound, cumulative))
    return Histogram(
        tuple(out), int(fields.get(f"{name}_count", 0) or 0), float(fields.get(f"{name}_sum", 0))
    )


def parse_metrics(fields: Mapping[Any, Any]) -> SymbolMetrics:
    """Return the figures of one metrics hash (as HGETALL returns it, bytes or str)."""
    text = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }
    return SymbolMetrics(
        orders={kind.value: int(text.get(f"orders_{kind.value}", 0) or 0) for kind in OrderCount},
        step=_histogram(text, STEP),
        tick_to_order=_histogram(text, TICK_TO_ORDER),
    )


def read_metrics(client: redis.Redis, symbols: list[str]) -> dict[str, SymbolMetrics]:
    """Return the recorded figures of each symbol, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        pipe.hgetall(metrics_key(symbol))
    return {symbol: parse_metrics(raw) for symbol, raw in zip(symbols, pipe.execute(), strict=True)}


def read_recent(
    client: redis.Redis, symbols: list[str], now_s: float | None = None
) -> dict[str, SymbolMetrics]:
    """Return each symbol's figures over the last RECENT_WINDOW_S (whole minutes, the current
    one included), in one round trip: what the dashboard and status call "recent"."""
    now_minute = int((time.time() if now_s is None else now_s) // 60)
    minutes = range(now_minute - RECENT_WINDOW_S // 60, now_minute + 1)
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        for minute in minutes:
            pipe.hgetall(recent_key(symbol, minute))
    replies = iter(pipe.execute())
    out = {}
    for symbol in symbols:
        summed: dict[str, float] = {}
        for _ in minutes:
            for k, v in next(replies).items():
                name = k.decode() if isinstance(k, bytes) else k
                summed[name] = summed.get(name, 0.0) + float(v)
        out[symbol] = parse_metrics({k: _number_text(v) for k, v in summed.items()})
    return out


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)

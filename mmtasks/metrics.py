"""Figures a worker records in Redis so every process and host adds up: order counters and
latency histograms, one hash per symbol (`mm:{s}:metrics`), read by the web process at scrape.

A histogram is stored as one counter per fixed bucket (not cumulative: an observation touches
one field), plus `<name>_count` and `<name>_sum`; readers cumulate. Fields:

  orders_placed, orders_cancelled, orders_rejected   counters
  step_ms_le_<bound>, step_ms_count, step_ms_sum     step duration histogram (ms)
  t2o_ms_le_<bound>, t2o_ms_count, t2o_ms_sum        tick-to-order histogram (ms)

The writers take a Redis client or a pipeline, so a step adds them to a round trip it makes
anyway. The key lives here until the key schema module (mmtasks/state/keys.py) adopts it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

from mmtasks.state.keys import keys_for

# Upper bounds in milliseconds; the last bucket is +Inf.
BUCKETS_MS: tuple[float, ...] = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STEP = "step_ms"
TICK_TO_ORDER = "t2o_ms"
HISTOGRAMS = (STEP, TICK_TO_ORDER)


class OrderCount(StrEnum):
    """What happened to an order, as counted in `orders_<kind>`."""

    PLACED = "placed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# Stream event types (mmtasks.events.EventType values) counted by count_order_events.
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


def observe(pipe: redis.Redis, symbol: str, name: str, value_ms: float) -> None:
    """Add one observation of histogram name."""
    key = metrics_key(symbol)
    value_ms = max(0.0, float(value_ms))
    pipe.hincrby(key, bucket_field(name, value_ms), 1)
    pipe.hincrby(key, f"{name}_count", 1)
    pipe.hincrbyfloat(key, f"{name}_sum", round(value_ms, 3))


def record_step(
    pipe: redis.Redis, symbol: str, step_ms: float, tick_to_order_ms: float | None = None
) -> None:
    """Record one step's duration and, when it sent orders for a tick, its tick-to-order time."""
    observe(pipe, symbol, STEP, step_ms)
    if tick_to_order_ms is not None:
        observe(pipe, symbol, TICK_TO_ORDER, tick_to_order_ms)


def count_orders(pipe: redis.Redis, symbol: str, kind: OrderCount | str, n: int = 1) -> None:
    """Add n to the symbol's counter of orders placed, cancelled or rejected."""
    if n:
        pipe.hincrby(metrics_key(symbol), f"orders_{OrderCount(kind).value}", n)


def count_order_events(pipe: redis.Redis, symbol: str, events: Sequence[Mapping[str, str]]) -> None:
    """Count the ORDER_CREATED / CANCELLED / REJECTED events a step publishes."""
    counts: dict[OrderCount, int] = {}
    for event in events:
        kind = EVENT_COUNTS.get(event.get("type", ""))
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    for kind, n in counts.items():
        count_orders(pipe, symbol, kind, n)


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

"""Prometheus figures read from Redis and Postgres at scrape time (a custom Collector).

Nothing is counted in this process: workers, the bridge and the ledger keep the figures, so any
number of worker processes and hosts add up, and several web processes report the same values.
Per-symbol gauges come from the same `collect_status` as `/status`, so the two always agree.
Labels are bounded: symbol, queue, side, kind, state, quote, stream, reason, dependency.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mmtasks.budget import budget_status
from mmtasks.budget.budget import WAIT_BUCKETS_MS
from mmtasks.metrics import Histogram, read_metrics
from mmtasks.state.keys import BRIDGE_HEARTBEAT, BRIDGE_REJECTS, EVENTS, FLEET, SymbolKeys
from mmtasks.state.record import SymbolState, read_each
from mmtasks.web.fleet_view import quote_of
from mmtasks.web.ledger_reads import fill_counts
from mmtasks.web.sources import Sources, now_ms

log = logging.getLogger(__name__)

SYMBOL_STATES = ("ACTIVE", "PAUSED", "ERROR", "REMOVED", "UNCONFIGURED", "MISSING")
FLEET_STATES = ("ACTIVE", "REDUCING", "HALTED")
BRIDGE_COUNTERS = {
    "events_appended": "mm_bridge_events_appended",
    "price_tasks": "mm_bridge_price_tasks",
}


def _f(value: Any) -> float:
    try:
        return float(Decimal(str(value))) if value not in (None, "") else 0.0
    except InvalidOperation:
        return math.nan


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _histogram(name: str, doc: str) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=["symbol"])


def _add_histogram(family: HistogramMetricFamily, symbol: str, hist: Histogram) -> None:
    """Add a histogram recorded in ms as seconds (the Prometheus unit)."""
    buckets = [("+Inf" if math.isinf(b) else f"{b / 1000:g}", float(n)) for b, n in hist.buckets]
    family.add_metric([symbol], buckets, hist.sum_ms / 1000)


SYMBOL_GAUGES: tuple[tuple[str, str, list[str]], ...] = (
    ("mm_symbol_state", "1 for the symbol's current state", ["symbol", "state"]),
    ("mm_symbol_venue", "1 for the venue the symbol trades on", ["symbol", "venue"]),
    ("mm_symbol_healthy", "1 when the symbol is healthy", ["symbol"]),
    ("mm_symbol_reduce_only", "1 while the symbol only reduces", ["symbol"]),
    ("mm_symbol_errors", "Failed steps in a row", ["symbol"]),
    ("mm_last_price", "Newest price the worker traded on", ["symbol"]),
    ("mm_price_age_seconds", "Age of that price", ["symbol"]),
    ("mm_position", "Signed position (base)", ["symbol"]),
    ("mm_avg_cost", "Average entry price", ["symbol"]),
    ("mm_max_position", "Position limit (base)", ["symbol"]),
    ("mm_exposure", "|position| x last price (quote)", ["symbol", "quote"]),
    ("mm_realized_pnl", "Realized PnL (quote)", ["symbol", "quote"]),
    ("mm_unrealized_pnl", "Unrealized PnL at the last price", ["symbol", "quote"]),
    ("mm_fees", "Fees paid (quote)", ["symbol", "quote"]),
    ("mm_volume", "Notional traded (quote)", ["symbol", "quote"]),
    ("mm_open_orders", "Grid orders (pending: not acked)", ["symbol", "side"]),
    ("mm_inbox_lag", "Inbox events not applied yet (head seq - cursor)", ["symbol"]),
    ("mm_ledger_backlog", "Fills waiting in Redis for the ledger", ["symbol"]),
    ("mm_queue_depth", "Task messages waiting in the symbol's queue", ["queue"]),
    ("mm_queue_consumers", "Workers consuming the queue", ["queue"]),
    (
        "mm_symbol_consumers",
        "Workers consuming the symbol's queue, per host (a standby on another host "
        "takes over when one dies)",
        ["symbol", "host"],
    ),
    (
        "mm_symbol_lock_held",
        "1 for the host whose worker holds the lock",
        ["symbol", "host"],
    ),
)


class FleetCollector(Collector):
    """Yield the fleet's figures on every scrape."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        up = _gauge("mm_up", "1 when the web process could read the dependency", ["dependency"])
        try:
            status: dict[str, Any] | None = self.sources.status()
            pg_ok = True
        except Exception as exc:  # Postgres (registry) unreachable: Redis figures still count
            log.warning("scrape without the registry: %s", exc)
            status, pg_ok = None, False
        try:
            yield from self._redis_figures(status)
            redis_ok = True
        except Exception as exc:
            log.warning("scrape without Redis: %s", exc)
            redis_ok = False
        if pg_ok:
            try:
                yield self._fills()
            except Exception as exc:
                log.warning("scrape without the ledger: %s", exc)
                pg_ok = False
        up.add_metric(["redis"], float(redis_ok))
        up.add_metric(["postgres"], float(pg_ok))
        yield up

    def _fills(self) -> Metric:
        fills = CounterMetricFamily(
            "mm_fills", "Fills in the Postgres ledger", labels=["symbol", "side"]
        )
        with self.sources.pg.connection() as conn:
            counts = fill_counts(conn)
        for (symbol, side), n in sorted(counts.items()):
            fills.add_metric([symbol, side], float(n))
        return fills

    def _redis_figures(self, status: dict[str, Any] | None) -> Iterator[Metric]:
        r: Any = self.sources.redis
        yield from self._fleet(r.hgetall(FLEET), status)
        yield from self._bridge(r.hgetall(BRIDGE_HEARTBEAT), r.hgetall(BRIDGE_REJECTS))
        events = _gauge("mm_events_stream_length", "Entries kept in the events stream", [])
        events.add_metric([], float(r.xlen(EVENTS)))
        yield events
        yield from self._budgets(status["venues"] if status is not None else budget_status(r))
        if status is not None:
            yield from self._symbols(status["symbols"])

    def _budgets(self, venues: dict[str, Any]) -> Iterator[Metric]:
        """Each real venue's rate budget: buckets left and sized, waits, refusals, pauses."""
        left = _gauge("mm_budget_left", "Budget left in a bucket", ["venue", "scope", "key"])
        size = _gauge("mm_budget_capacity", "Size of a bucket", ["venue", "scope", "key"])
        limit = _gauge(
            "mm_budget_limit",
            "The venue limit a bucket keeps under, per window",
            ["venue", "scope", "window"],
        )
        paused = _gauge(
            "mm_venue_paused_seconds", "Seconds left of a fleet-wide pause (429/418)", ["venue"]
        )
        draws = CounterMetricFamily(
            "mm_budget_draws", "Calls given budget", labels=["venue", "priority"]
        )
        refused = CounterMetricFamily(
            "mm_budget_refused", "Calls refused: no budget in time", labels=["venue"]
        )
        pauses = CounterMetricFamily(
            "mm_venue_pauses", "Pauses set after a 429 or 418", labels=["venue"]
        )
        waits = HistogramMetricFamily(
            "mm_budget_wait_seconds", "Time a call waited for budget", labels=["venue"]
        )
        for venue, v in sorted(venues.items()):
            for scope in v.get("scopes", []):
                labels = [venue, scope["name"], scope["key"].rsplit(":", 1)[-1]]
                left.add_metric(labels, float(scope["left"]))
                size.add_metric(labels, float(scope["capacity"]))
                limit.add_metric(
                    [venue, scope["name"], f"{scope['window_ms'] // 1000}s"], float(scope["limit"])
                )
            paused.add_metric([venue], v.get("paused_ms", 0) / 1000)
            stats = v.get("stats", {})
            for name, value in stats.items():
                if name.startswith("draws:"):
                    draws.add_metric([venue, name.split(":", 1)[1]], float(value))
            refused.add_metric([venue], float(stats.get("denied", 0)))
            pauses.add_metric([venue], float(stats.get("pauses", 0)))
            buckets = [
                (f"{b / 1000:g}", float(stats.get(f"wait_le:{b}", 0))) for b in WAIT_BUCKETS_MS
            ]
            buckets.append(("+Inf", float(stats.get("wait_le:+Inf", 0))))
            waits.add_metric([venue], buckets, stats.get("wait_ms_sum", 0) / 1000)
        yield from (left, size, limit, paused, draws, refused, pauses, waits)

    def _fleet(self, fleet: dict[str, str], status: dict[str, Any] | None) -> Iterator[Metric]:
        state = fleet.get("state", "ACTIVE")
        family = _gauge("mm_fleet_state", "1 for the fleet's current state", ["state"])
        for name in FLEET_STATES:
            family.add_metric([name], float(state == name))
        yield family
        if status is not None:
            healthy = _gauge("mm_fleet_healthy", "1 when the fleet and all symbols are healthy", [])
            healthy.add_metric([], float(status["fleet"]["healthy"]))
            yield healthy

    def _bridge(self, heartbeat: dict[str, str], rejects: dict[str, str]) -> Iterator[Metric]:
        up = _gauge("mm_bridge_connected", "1 while the bridge says it is connected", [])
        up.add_metric([], float(heartbeat.get("state") == "connected"))
        age = _gauge("mm_bridge_heartbeat_age_seconds", "Seconds since the bridge's heartbeat", [])
        alive = heartbeat.get("alive_ms")
        age.add_metric([], (now_ms() - int(alive)) / 1000 if alive else math.nan)
        received = CounterMetricFamily(
            "mm_bridge_messages", "Messages the bridge read, per stream", labels=["stream"]
        )
        for field, value in sorted(heartbeat.items()):
            if field.endswith("_count"):
                received.add_metric([field.removesuffix("_count")], _f(value))
        yield from (up, age, received)
        for field, name in BRIDGE_COUNTERS.items():
            counter = CounterMetricFamily(name, f"Bridge running total: {field}")
            counter.add_metric([], _f(heartbeat.get(field)))
            yield counter
        refused = CounterMetricFamily(
            "mm_bridge_rejects", "Bad messages the bridge refused, per reason", labels=["reason"]
        )
        for reason, n in sorted(rejects.items()):
            refused.add_metric([reason], _f(n))
        yield refused

    def _symbols(self, entries: list[dict[str, Any]]) -> Iterator[Metric]:
        r = self.sources.redis
        symbols = [e["symbol"] for e in entries]
        raw = _inbox_figures(r, symbols)
        recorded = read_metrics(r, symbols)

        g = {name: _gauge(name, doc, labels) for name, doc, labels in SYMBOL_GAUGES}
        orders = CounterMetricFamily(
            "mm_orders", "Orders placed, cancelled, rejected", labels=["symbol", "kind"]
        )
        t2o = _histogram("mm_tick_to_order_seconds", "From the tick's event time to orders sent")
        step = _histogram("mm_step_duration_seconds", "Duration of one worker step")

        for i, e in enumerate(entries):
            symbol, quote, position = e["symbol"], quote_of(e["symbol"]), e["position"]
            head, cursor, backlog = raw[3 * i : 3 * i + 3]
            state = e["state"] or "MISSING"
            for name in SYMBOL_STATES:
                g["mm_symbol_state"].add_metric([symbol, name], float(state == name))
            g["mm_symbol_venue"].add_metric([symbol, e.get("exchange") or "sim"], 1.0)
            g["mm_symbol_healthy"].add_metric([symbol], float(e["healthy"]))
            g["mm_symbol_reduce_only"].add_metric([symbol], float(e["risk"]["reduce_only"]))
            g["mm_symbol_errors"].add_metric([symbol], float(e["risk"]["error_count"]))
            if e["last_price"] is not None:
                g["mm_last_price"].add_metric([symbol], _f(e["last_price"]))
            if e["last_price_age_ms"] is not None:
                g["mm_price_age_seconds"].add_metric([symbol], e["last_price_age_ms"] / 1000)
            qty, price = _f(position["qty"]), _f(e["last_price"])
            g["mm_position"].add_metric([symbol], qty)
            g["mm_avg_cost"].add_metric([symbol], _f(position["avg_cost"]))
            if e["risk"]["max_position"] is not None:
                g["mm_max_position"].add_metric([symbol], _f(e["risk"]["max_position"]))
            g["mm_exposure"].add_metric([symbol, quote], abs(qty) * price)
            for field in ("realized_pnl", "unrealized_pnl", "fees", "volume"):
                g[f"mm_{field}"].add_metric([symbol, quote], _f(position[field]))
            for side in ("buy", "sell", "pending"):
                g["mm_open_orders"].add_metric([symbol, side], float(e["open_orders"][side]))
            g["mm_inbox_lag"].add_metric([symbol], float(head - cursor))
            g["mm_ledger_backlog"].add_metric([symbol], float(backlog))
            if e["queue_depth"] is not None:
                g["mm_queue_depth"].add_metric([e["queue"]], float(e["queue_depth"]))
            if e["consumer_count"] is not None:
                g["mm_queue_consumers"].add_metric([e["queue"]], float(e["consumer_count"]))
            for host, nodes in (e["consumers_by_host"] or {}).items():
                g["mm_symbol_consumers"].add_metric([symbol, host], float(len(nodes)))
            if e["lock_holder"]:
                host = e["lock_holder"].rpartition(":")[0]
                g["mm_symbol_lock_held"].add_metric([symbol, host], 1.0)
            figures = recorded[symbol]
            for kind, n in figures.orders.items():
                orders.add_metric([symbol, kind], float(n))
            _add_histogram(t2o, symbol, figures.tick_to_order)
            _add_histogram(step, symbol, figures.step)
        yield from g.values()
        yield from (orders, t2o, step)


def _inbox_figures(r: redis.Redis, symbols: list[str]) -> list[int]:
    """Return, per symbol in one round trip: its inbox head seq, its cursor, fills unflushed."""

    def reads(pipe: Any, k: SymbolKeys) -> None:
        pipe.get(k.seq)
        pipe.hgetall(k.state)
        pipe.llen(k.fills_out)

    out: list[int] = []
    for symbol, (head, state, backlog) in zip(symbols, read_each(r, symbols, reads), strict=True):
        out += [int(head or 0), SymbolState.parse(symbol, state).last_seq, int(backlog)]
    return out

"""A fleet on two connector replicas of one Binance account, sharing one rate budget.

The Binance-speaking simulator runs with low limits; two `--venue binanceusdm` connectors on
the same key draw from the same Redis budget; workers are split between them; one bridge reads
the streams. `BudgetFleet` moves prices, bans, and reads what the simulator and the workers
know. Used by tests/venue_fleet (a short run) and bench/bench_budget_fleet.py (64 symbols, a
minute of moves).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis as redis_lib

from mmtasks.celery import app
from mmtasks.enqueue import wake
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.keys import BRIDGE_HEARTBEAT, keys_for
from tests.kit.binance import BinanceSimControl
from tests.kit.env import fleet_env
from tests.kit.feed import publish_tick
from tests.kit.poll import eventually
from tests.kit.procs import BridgeProc, Worker, binance_sim, venue_connector

D = Decimal
GRID: dict[str, Any] = {
    "mode": "neutral",
    "interval": "1",
    "buy_levels": 2,
    "sell_levels": 2,
    "order_qty": "1",
}


@dataclass
class BudgetFleet:
    """Handles on a running fleet: the simulator, the two connectors, Redis."""

    symbols: list[str]
    control: BinanceSimControl
    addrs: list[str]
    redis: redis_lib.Redis
    exchange: Any
    workers: list[Worker] = field(default_factory=list)

    def move_all(self, price: Decimal) -> None:
        """Trade every symbol at price on the venue, and tell each worker (as the bridge would)."""
        for symbol in self.symbols:
            tick = self.control.inject_price(symbol, price)
            publish_tick(self.redis, app, symbol, price, tick.ts_event_ms, tick.seq)

    def unsettled(self) -> list[str]:
        """Symbols whose grid at the venue is not yet what the worker decided (or not acked)."""
        orders = self.control._http.get("/_sim/orders").json()
        at_venue: dict[str, set[str]] = {}
        for o in orders:
            at_venue.setdefault(o["symbol"], set()).add(o["clientOrderId"])
        out = []
        for symbol in self.symbols:
            k = keys_for(symbol)
            slots = [json.loads(v) for v in self.redis.hgetall(k.slots).values()]
            if any(s.get("status") == "PENDING" for s in slots):
                out.append(symbol)
                continue
            mine = {s["client_order_id"] for s in slots if s.get("status") == "LOCKED"}
            if not mine or mine != at_venue.get(symbol, set()):
                out.append(symbol)
        return out

    def settle(self, timeout_s: float) -> float:
        """Wake every symbol until each grid is placed; return the seconds it took."""
        started = time.monotonic()

        def done() -> bool:
            left = self.unsettled()
            for symbol in left:
                wake(app, symbol)  # as beat's sweeper would, for a symbol backing off
            return not left

        eventually(done, timeout_s=timeout_s, interval_s=1.0)
        return time.monotonic() - started

    def stats(self) -> dict[str, Any]:
        return self.control.stats()


@contextlib.contextmanager
def budget_fleet(
    n_symbols: int,
    redis_url: str,
    database_url: str,
    *,
    weight_per_minute: int,
    orders_per_10s: int,
    workers: int,
    ban_after: int = 2,
) -> Iterator[BudgetFleet]:
    """Start the simulator, two connectors, the bridge and workers; stop them after."""
    from mmtasks.connector.client import ExchangeClient

    symbols = [f"BF{i:02d}USDT" for i in range(n_symbols)]
    sim_args = (
        "--feed",
        "none",
        "--symbols",
        ",".join(symbols),
        "--log-level",
        "WARNING",
        "--weight-limit",
        str(weight_per_minute),
        "--orders-per-10s",
        str(orders_per_10s),
        "--ban-after",
        str(ban_after),
    )
    budget_env = {
        "REDIS_URL": redis_url,
        "MMTASKS_BUDGET_WEIGHT_PER_MIN": str(weight_per_minute),
        "MMTASKS_BUDGET_ORDERS_PER_10S": str(orders_per_10s),
    }
    connector_args = ("--symbols", ",".join(symbols), "--log-level", "WARNING")
    with (
        binance_sim(*sim_args) as base,
        venue_connector("binanceusdm", base, *connector_args, env=budget_env) as first,
        venue_connector("binanceusdm", base, *connector_args, env=budget_env) as second,
    ):
        addrs = [first, second]
        client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
        bridge = BridgeProc(
            ["--symbols", ",".join(symbols)],
            fleet_env(redis_url, database_url, first, LOG_LEVEL="WARNING"),
        )
        exchange = ExchangeClient(first)
        control = BinanceSimControl(base)
        fleet = BudgetFleet(symbols, control, addrs, client, exchange)
        try:
            eventually(lambda: client.hget(BRIDGE_HEARTBEAT, "state") == "connected", 60)
            groups = [symbols[i::workers] for i in range(workers)]
            for i, group in enumerate(groups):
                env = fleet_env(redis_url, database_url, addrs[i % 2], LOG_LEVEL="WARNING")
                fleet.workers.append(Worker([s.lower() for s in group], env, name=f"bf{i}"))
            for symbol in symbols:
                # Prices move only when the run says: they must not go stale while it waits.
                init_symbol(client, app, exchange, symbol, GRID, {"stale_after_s": 3600})
            yield fleet
        finally:
            for worker in fleet.workers:
                worker.stop()
            bridge.stop()
            exchange.close()
            control.close()

"""End to end: connector, bridge and real symbol workers trade on the random-walk feed."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.decimals import canon
from mmtasks.enqueue import PRICE_TASK, wake
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.keys import BRIDGE_HEARTBEAT, keys_for
from mmtasks.trading.reconcile import trades_since
from tests.bridge.conftest import inbox, queued_tasks, wait_connected
from tests.kit.poll import eventually, until_clear
from tests.kit.procs import connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
SYMBOLS = ("FLAUSDT", "FLBUSDT")
GRID = {"mode": "neutral", "interval": "0.05", "buy_levels": 3, "sell_levels": 3, "order_qty": "1"}


@contextmanager
def fleet(
    start_bridge: Any, start_worker: Any, redis_client: redis_lib.Redis, tick_ms: int
) -> Iterator[tuple[Any, Any]]:
    """Run connector, bridge and one worker per symbol; init the symbols; yield clients."""
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.connector.sim_client import SimControlClient

    with connector(
        "--feed", "random", "--tick-ms", str(tick_ms), "--seed", "3", "--symbols", ",".join(SYMBOLS)
    ) as addr:
        for symbol in SYMBOLS:
            start_worker([symbol.lower()], addr)
        start_bridge(addr, "--symbols", ",".join(SYMBOLS))
        wait_connected(redis_client)
        exchange, sim = ExchangeClient(addr), SimControlClient(addr)
        try:
            for symbol in SYMBOLS:
                init_symbol(redis_client, app, exchange, symbol, GRID)
            yield exchange, sim
        finally:
            exchange.close()
            sim.close()


def grid_orders(client: redis_lib.Redis, symbol: str) -> set[tuple[str, str, str]]:
    """Return (side, price, client id) of the orders the worker's grid says are resting."""
    slots = [json.loads(v) for v in client.hgetall(keys_for(symbol).slots).values()]
    return {
        (s["side"], canon(Decimal(s["price"])), s["client_order_id"])
        for s in slots
        if s["status"] == "LOCKED"
    }


def exchange_orders(exchange: Any, symbol: str) -> set[tuple[str, str, str]]:
    return {(o.side.value, canon(o.price), o.client_order_id) for o in exchange.open_orders(symbol)}


def settled(client: redis_lib.Redis, symbol: str) -> bool:
    """Return True when the symbol's inbox is drained and nothing waits in its queue."""
    k = keys_for(symbol)
    drained = int(client.hget(k.state, "last_seq") or 0) == int(client.get(k.seq) or 0)
    return drained and client.llen(symbol.lower()) == 0 and not client.exists(k.price_pending)


def unflushed_problem(client: redis_lib.Redis, symbol: str) -> str:
    """Return '' when no fill waits in Redis for the ledger; else say so, waking the symbol.

    A step moves the fills it committed to Postgres at its end; one that could not (the pool
    timed out under load, or the step failed) leaves them in fills_out for a later step. A
    quiet symbol has no later step unless beat's sweeper wakes it; this test runs no beat, so
    it wakes the symbol itself, as the sweeper would.
    """
    waiting = client.llen(keys_for(symbol).fills_out)
    if not waiting:
        return ""
    if client.llen(symbol.lower()) == 0:
        wake(app, symbol)
    return f"{symbol}: {waiting} fills wait in Redis for the ledger"


def settle_problem(client: redis_lib.Redis, symbol: str) -> str:
    """Return '' when the worker has applied everything sent to it, else why not (yet).

    Three things legitimately wait for beat, and this test runs no beat, so it does what beat
    would: a step that met a slow connector backs off (DEGRADED) until the healer wakes it; a
    lost price task leaves its flag for the sweeper to clear; and a forming candle wakes nobody
    (the symbol's next step drains it), so when the feed stops right after one, it waits in the
    inbox for the sweeper. Anything else left behind the cursor with nothing queued is a lost
    wake, and is named.
    """
    k = keys_for(symbol)
    state = client.hgetall(k.state)
    idle = client.llen(symbol.lower()) == 0 and not client.exists(k.lock)
    if state.get("degraded_since_ms") and idle:
        wake(app, symbol)
        return f"{symbol}: DEGRADED ({state.get('last_error')}), woken to retry"
    if client.exists(k.price_pending) and idle:
        client.delete(k.price_pending)
        wake(app, symbol, PRICE_TASK)
        return f"{symbol}: a price task was announced, none queued or running: sent again"
    if settled(client, symbol):
        return ""
    cursor = int(state.get("last_seq") or 0)
    behind = [event for seq, event in inbox(client, symbol) if seq > cursor]
    kinds = dict(Counter(_kind(event) for event in behind))
    if idle and behind and set(kinds) == {"forming candle"}:
        wake(app, symbol)
        return f"{symbol}: {kinds} wait in the inbox for a next step: woken as the sweeper would"
    return (
        f"{symbol}: not settled (cursor {cursor} of {client.get(k.seq)}, behind it {kinds}, "
        f"{client.llen(symbol.lower())} tasks queued, lock "
        f"{'held' if client.exists(k.lock) else 'free'}, status {state.get('status')}, "
        f"last error {state.get('last_error')!r})"
    )


def _kind(event: dict[str, Any]) -> str:
    if event["kind"] == "candle":
        return "closed candle" if event["closed"] else "forming candle"
    return str(event["kind"])


def grid_problem(client: redis_lib.Redis, exchange: Any, symbol: str) -> str:
    """Return '' when the worker is settled and its grid is what the exchange holds, else why."""
    problem = settle_problem(client, symbol)
    if problem:
        return problem
    grid, held = grid_orders(client, symbol), exchange_orders(exchange, symbol)
    if grid == held:
        return ""
    return (
        f"{symbol}: only in the grid {sorted(grid - held)}; at the exchange {sorted(held - grid)}"
    )


def ledger_diff(url: str, exchange: Any, symbol: str) -> str:
    """Return '' when the ledger holds exactly the exchange's trades, else the differing ids."""
    at_exchange = {t.trade_id for t in trades_since(exchange, symbol, 0)}  # every page
    in_ledger = ledger_trades(url, symbol)
    duplicated = sorted(t for t, n in Counter(in_ledger).items() if n > 1)
    missing = sorted(at_exchange - set(in_ledger))
    extra = sorted(set(in_ledger) - at_exchange)
    if not (missing or extra or duplicated):
        return ""
    return (
        f"{symbol}: exchange {len(at_exchange)} trades, ledger {len(in_ledger)} rows; "
        f"missing from the ledger {missing}; not at the exchange {extra}; twice {duplicated}"
    )


def books_problem(client: redis_lib.Redis, url: str, exchange: Any, symbol: str) -> str:
    """Return '' when the worker is settled, its fills are all in the ledger exactly once and
    its position is the exchange's; else the first of those that is not (yet) so."""
    problem = (
        settle_problem(client, symbol)
        or unflushed_problem(client, symbol)
        or ledger_diff(url, exchange, symbol)
    )
    if problem:
        return problem
    held = [p.quantity for p in exchange.positions(symbol) if p.symbol == symbol]
    qty = Decimal(client.hget(keys_for(symbol).position, "qty") or "0")
    if qty != (held[0] if held else 0):
        return f"{symbol}: the worker holds {qty}, the exchange {held[0] if held else 0}"
    return ""


def ledger_trades(url: str, symbol: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT trade_id FROM fills WHERE symbol = %s", (symbol,))
        return sorted(r[0] for r in rows.fetchall())


def closing_seen(exchange: Any, url: str, symbol: str) -> bool:
    """Return True once a fill came back and a closing (reduce-only) order followed it."""
    with psycopg.connect(url) as conn:
        closed = conn.execute(
            "SELECT count(*) FROM fills WHERE symbol = %s AND closing", (symbol,)
        ).fetchone()
    resting_closer = any(o.reduce_only for o in exchange.open_orders(symbol))
    return bool(ledger_trades(url, symbol)) and (resting_closer or bool(closed and closed[0]))


def test_two_symbols_trade_and_the_exchange_holds_exactly_each_workers_grid(
    start_bridge: Any, start_worker: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    with fleet(start_bridge, start_worker, redis_client, tick_ms=20) as (exchange, sim):
        for symbol in SYMBOLS:
            eventually(lambda s=symbol: closing_seen(exchange, ledger_url, s), timeout_s=40)

        sim.set_feed(paused=True)
        for symbol in SYMBOLS:
            until_clear(lambda s=symbol: grid_problem(redis_client, exchange, s), timeout_s=30)
            assert len(exchange_orders(exchange, symbol)) >= 3
            until_clear(
                lambda s=symbol: books_problem(redis_client, ledger_url, exchange, s),
                timeout_s=30,
            )


class QueueWatch:
    """Sample each symbol queue's depth and its pending price tasks in a thread."""

    def __init__(self, client: redis_lib.Redis, interval_s: float = 0.02) -> None:
        self.client, self.interval_s = client, interval_s
        self.max_depth = dict.fromkeys(SYMBOLS, 0)
        self.max_price_tasks = dict.fromkeys(SYMBOLS, 0)
        self.deepest: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for symbol in SYMBOLS:
                tasks = queued_tasks(self.client, symbol.lower())
                price = sum(name == "mmtasks.symbol.on_price" for name, _ in tasks)
                if len(tasks) > self.max_depth[symbol]:
                    self.deepest[symbol] = dict(Counter(name for name, _ in tasks))
                self.max_depth[symbol] = max(self.max_depth[symbol], len(tasks))
                self.max_price_tasks[symbol] = max(self.max_price_tasks[symbol], price)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_a_feed_ten_times_faster_than_the_workers_keeps_queues_bounded_and_fills_exact(
    start_bridge: Any, start_worker: Any, redis_client: redis_lib.Redis, ledger_url: str
) -> None:
    with fleet(start_bridge, start_worker, redis_client, tick_ms=0) as (exchange, sim):
        watch = QueueWatch(redis_client)
        try:
            for symbol in SYMBOLS:
                eventually(lambda s=symbol: len(ledger_trades(ledger_url, s)) >= 3, timeout_s=40)
            # ... and keep the overload on for a few thousand ticks.
            heartbeat = eventually(
                lambda: (
                    (h := redis_client.hgetall(BRIDGE_HEARTBEAT))
                    and int(h.get("price_count", 0)) >= 6000
                    and h
                ),
                timeout_s=30,
            )
        finally:
            watch.stop()
        sim.set_feed(paused=True)

        ticks, steps = int(heartbeat["price_count"]), int(heartbeat["price_tasks"])
        print(
            f"\noverload: {ticks} ticks for {steps} price tasks "
            f"({ticks / max(steps, 1):.0f}x); max queue depth {watch.max_depth}, "
            f"max pending price tasks {watch.max_price_tasks}; deepest {watch.deepest}"
        )
        assert ticks >= 10 * steps  # the feed really outran the workers
        assert all(n <= 1 for n in watch.max_price_tasks.values())
        assert all(n <= 20 for n in watch.max_depth.values())
        for symbol in SYMBOLS:
            # Every fill the exchange made is in the ledger exactly once (trade id is its key)
            # and the worker's position is the exchange's. Fills of the last ticks may still
            # be on their way through the bridge when the feed stops, hence the wait.
            until_clear(
                lambda s=symbol: books_problem(redis_client, ledger_url, exchange, s),
                timeout_s=30,
            )

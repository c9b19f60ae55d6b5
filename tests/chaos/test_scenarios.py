"""Short CI versions of three chaos scenarios, to issue #9's Must show.

Real connector, Redis, Postgres and Celery workers; the order pump stands in for the bridge's
order path and `set_price` for its price path, as in tests/integration. After each fault the
fleet settles and the one invariant checker (`mmtasks.audit.invariants`) must find nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.audit.invariants import check
from mmtasks.audit.settle import wait_settled
from mmtasks.celery import app
from mmtasks.errors import MMError
from mmtasks.grid.ids import is_ours
from mmtasks.state.keys import keys_for
from tests.chaos.conftest import SYMBOL
from tests.kit.configs import GRID
from tests.kit.feed import OrderPump
from tests.kit.feed import set_price as kit_set_price
from tests.kit.poll import eventually
from tests.kit.procs import Proc, Worker, launch

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]
D = Decimal


@pytest.fixture
def beat(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[Proc]:
    """Run `celery beat` and the control worker that runs what it schedules (sweeper, healer)."""
    control = Worker(["control"], fleet_env, name="control")
    proc = launch(
        "beat",
        *("-m", "celery", "-A", "mmtasks", "beat", "-s", str(tmp_path / "s")),
        env={**fleet_env, "MMTASKS_DATA_DIR": str(tmp_path)},
    )
    yield proc
    proc.stop()
    control.stop()


@pytest.fixture
def pump(exchange_addr: str, redis_url: str) -> Iterator[OrderPump]:
    p = OrderPump(exchange_addr, redis_url, {SYMBOL})
    yield p
    p.close()


def set_price(sim: Any, client: redis_lib.Redis, price: str) -> None:
    """Trade the exchange at price (resting orders it reaches fill), then tell the worker."""
    kit_set_price(sim, client, SYMBOL, price)


def resting(exchange: Any) -> list[tuple[str, Decimal]]:
    return sorted(
        (o.side.value, o.price)
        for o in exchange.open_orders(SYMBOL)
        if is_ours(SYMBOL, o.client_order_id)
    )


def exchange_position(exchange: Any) -> Decimal:
    return sum((p.quantity for p in exchange.positions(SYMBOL) if p.symbol == SYMBOL), D(0))


def position_qty(client: redis_lib.Redis) -> Decimal:
    return D(client.hget(keys_for(SYMBOL).position, "qty") or "0")


def trading(client: redis_lib.Redis, exchange: Any, since_ms: int) -> bool:
    """Return True when the symbol is ACTIVE, stepped since since_ms and rests our orders."""
    state = client.hgetall(keys_for(SYMBOL).state)
    try:
        orders = resting(exchange)
    except MMError as exc:  # the rest of an injected burst may hit the test's own calls
        raise AssertionError(f"exchange not answering: {exc}") from None
    assert state.get("status", "ACTIVE") == "ACTIVE", f"status {state.get('status')}: {state}"
    assert int(state.get("last_step_ms") or 0) >= since_ms, f"no step since the fault: {state}"
    assert orders, f"no resting order of ours; state {state}"
    return True


def assert_invariants(
    exchange: Any, client: redis_lib.Redis, ledger_url: str, events_since_ms: int = 0
) -> None:
    """Let the symbol settle, then assert the checker finds nothing wrong."""
    settled = wait_settled(client, [SYMBOL], exchange=exchange, timeout_s=30)
    (report,) = check(
        exchange,
        client,
        ledger_url,
        [SYMBOL],
        events_from_start=not events_since_ms,
        events_since_ms=events_since_ms,
    )
    problems = report.problems()
    assert not problems, "\n".join(problems)
    assert settled.settled, settled.unsettled


def add_symbol(symbol: str) -> None:
    answer = app.send_task(
        "mmtasks.admin.add_symbol", kwargs={"symbol": symbol, "strategy": GRID}, queue="control"
    ).get(timeout=60)
    assert answer["ok"], answer


def now_ms() -> int:
    return int(time.time() * 1000)


def test_redis_wiped_mid_trading_heals_without_an_operator_and_keeps_the_ledger_whole(
    workers: Any,
    beat: Any,
    pump: OrderPump,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    # Arrange: a registered symbol trading, one fill already applied and in the ledger.
    workers(["control"], name="control")
    workers([SYMBOL.lower()], name="symbol")
    add_symbol(SYMBOL)
    set_price(sim, redis_client, "100")
    eventually(lambda: resting(exchange) == [("BUY", D(80)), ("BUY", D(90))], timeout_s=30)
    set_price(sim, redis_client, "89")
    eventually(lambda: position_qty(redis_client) == 1)

    # Act: Redis loses everything (FLUSHDB of the test's database: broker, state, events);
    # the market trades through 80 while the state is gone. No operator call follows.
    redis_client.flushdb()
    back_ms = now_ms()
    sim.inject_price(SYMBOL, "79")
    for _ in range(4):  # prices keep arriving, as the bridge would deliver them
        set_price(sim, redis_client, "79")
        time.sleep(0.5)

    # Assert: trading again within 10 s of Redis being back (issue #9), then every invariant:
    # the BUY 80 trade made while state was lost is in the ledger once, PnL equals the ledger's.
    eventually(lambda: trading(redis_client, exchange, back_ms), timeout_s=10)
    eventually(lambda: position_qty(redis_client) == 2, timeout_s=20)
    assert_invariants(exchange, redis_client, ledger_url, events_since_ms=back_ms)


class Ticker:
    """Publish the same price every interval_s, as the bridge relays a live feed."""

    def __init__(self, sim: Any, client: redis_lib.Redis, price: str, interval_s: float = 0.5):
        self.price = price
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sim, client, interval_s), daemon=True
        )
        self._thread.start()

    def _run(self, sim: Any, client: redis_lib.Redis, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            set_price(sim, client, self.price)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_connector_error_burst_and_latency_leave_no_symbol_in_error(
    workers: Any,
    beat: Any,
    pump: OrderPump,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    # Arrange: one symbol trading its grid.
    from mmtasks.registry.symbol_commands import init_symbol

    workers([SYMBOL.lower()], name="symbol")
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    set_price(sim, redis_client, "100")
    eventually(lambda: resting(exchange) == [("BUY", D(80)), ("BUY", D(90))], timeout_s=30)

    # Act: a burst of UNAVAILABLE answers, then 6 s of latency on every call for 10 s, while
    # prices keep coming and one resting order fills.
    sim.fail_next_calls(10, "UNAVAILABLE")
    sim.set_latency(6000)
    ticker = Ticker(sim, redis_client, "95")
    try:
        for price in ("95", "89", "93", "96", "94"):
            ticker.price = price
            time.sleep(2)
        sim.set_latency(0)
        answering_ms = now_ms()

        # Assert: never ERROR; trading again within 15 s of normal answers (issue #9).
        eventually(lambda: trading(redis_client, exchange, answering_ms), timeout_s=15)
        eventually(lambda: position_qty(redis_client) == 1, timeout_s=30)
        time.sleep(3)  # the market goes on: steps resolve what the burst left PENDING
    finally:
        ticker.stop()
    assert redis_client.hget(keys_for(SYMBOL).state, "status") in (None, "ACTIVE")
    assert_invariants(exchange, redis_client, ledger_url)


def test_fills_made_while_the_worker_is_down_are_applied_in_trade_order(
    workers: Any,
    exchange_addr: str,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    redis_url: str,
    ledger_url: str,
) -> None:
    # Arrange: 100 -> 89 -> 95: one lot bought at 90, SELL 100 closing, BUY 80 and 70 resting.
    from mmtasks.registry.symbol_commands import init_symbol

    pump = OrderPump(exchange_addr, redis_url, {SYMBOL})
    first = workers([SYMBOL.lower()], name="first")
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    for price in ("100", "89", "95"):
        set_price(sim, redis_client, price)
        assert wait_settled(redis_client, [SYMBOL], timeout_s=20).settled
    eventually(
        lambda: resting(exchange) == [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))],
        timeout_s=30,
    )

    # Act: worker and order stream are gone; the market buys 80, then 70, then sells 100.
    # Average cost makes the order matter: in trade order the SELL closes at avg 80 (+20);
    # applied slot by slot it could close at 90 (+10).
    pump.close()
    first.kill()
    for price in ("79", "69", "101"):
        sim.inject_price(SYMBOL, price)
    trades = exchange.trades(SYMBOL)
    assert [(t.side.value, t.price) for t in trades[-3:]] == [
        ("BUY", D(80)),
        ("BUY", D(70)),
        ("SELL", D(100)),
    ]
    workers([SYMBOL.lower()], name="second")
    pump = OrderPump(exchange_addr, redis_url, {SYMBOL})  # the bridge is back too
    try:
        # Assert: every trade applied once, in trade order: ledger == exchange trades, Redis
        # position == exchange, Redis realized PnL == the ledger's fold in trade order. (The
        # closing sells placed after the restart may fill at once, at the market: counted too.)
        eventually(lambda: position_qty(redis_client) == exchange_position(exchange), timeout_s=40)
        assert_invariants(exchange, redis_client, ledger_url)
    finally:
        pump.close()

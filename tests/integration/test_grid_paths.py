"""Scripted price paths through the live fleet: connector, bridge, a real symbol worker, Redis
and Postgres. Expected fills, positions, PnL and fees are worked by hand from the spec
(docs/strategy.md), never captured from a run.

Each path runs twice: on the simulated connector (`--sim`), and on the real-venue connector
(`--venue binanceusdm`, unmodified ccxt) against the Binance-speaking simulator
(`python -m mmtasks.sim.binance`): the same matching engine behind Binance's API, so the same
fills, position, realized PnL and fees.

Each tick is processed before the next. The venue matches a tick and reports the fills on its
order stream while the price goes out on the price stream; the spec applies a tick's fills
before the grid decides on it. So the test holds the symbol's lock (the production lock, the
same one every worker step takes) while it injects a price, until the bridge has put the new
tick and every fill of it in Redis; then the worker's next step applies them all before it
decides. A tick is done when the worker has decided on it and a decision on its stored state
would change nothing. Polls, never sleeps.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.domain import Side
from mmtasks.enqueue import wake
from mmtasks.grid.models import SlotStatus
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.keys import BRIDGE_HEARTBEAT, keys_for
from mmtasks.state.store import SymbolStore
from mmtasks.trading import advance
from mmtasks.trading.effects import Effects
from mmtasks.trading.snapshot import load_snapshot
from tests.kit.binance import BinanceSimControl
from tests.kit.poll import eventually
from tests.kit.procs import BridgeProc, binance_sim, connector, venue_connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SYMBOL = "GRIDUSDT"  # the sim's generic rules: tick 0.01, step 0.001, fees 0.0002 / 0.0004
D = Decimal
MAKER, TAKER = D("0.0002"), D("0.0004")
GATE_TTL_MS = 30_000
WORKER_LOCK_TTL_MS = "10000"  # a worker step waits up to 11 s for the lock the test holds


@dataclass(frozen=True)
class Fill:
    """A venue trade as the test expects it: order side and price, fill price, maker?"""

    side: str
    order_price: Decimal
    price: Decimal
    maker: bool


def maker(side: str, price: int) -> Fill:
    return Fill(side, D(price), D(price), True)


def taker(side: str, order_price: int, price: int) -> Fill:
    return Fill(side, D(order_price), D(price), False)


# -- the fleet ---------------------------------------------------------------------------------


@pytest.fixture(params=["sim", "binanceusdm"])
def venue_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def binance_base(venue_kind: str) -> Iterator[str]:
    """The Binance-speaking simulator's URL ('' for the --sim runs)."""
    if venue_kind == "sim":
        yield ""
        return
    with binance_sim("--feed", "none", "--symbols", SYMBOL) as base:
        yield base


@pytest.fixture
def exchange_addr(venue_kind: str, binance_base: str, redis_url: str) -> Iterator[str]:
    """The connector: the simulator itself, or ccxt on the Binance-speaking simulator."""
    if venue_kind == "sim":
        with connector("--feed", "none", "--symbols", SYMBOL) as addr:
            yield addr
    else:
        budget = {"REDIS_URL": redis_url}  # the rate budget in the test's own Redis
        with venue_connector(venue_kind, binance_base, "--symbols", SYMBOL, env=budget) as addr:
            yield addr


@pytest.fixture
def sim(venue_kind: str, exchange_addr: str, binance_base: str) -> Iterator[Any]:
    """The test bed's price control (SimControl, or the Binance simulator's /_sim)."""
    if venue_kind == "sim":
        from mmtasks.connector.sim_client import SimControlClient

        client: Any = SimControlClient(exchange_addr)
    else:
        client = BinanceSimControl(binance_base, "spot" if venue_kind == "binance" else "usdm")
    yield client
    client.close()


@pytest.fixture
def start_bridge(fleet_env: dict[str, str]) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `python -m bridge` for SYMBOL on the test's connector, Redis and Postgres."""
    started: list[BridgeProc] = []

    def start() -> subprocess.Popen[bytes]:
        bridge = BridgeProc(["--symbols", SYMBOL], {**fleet_env, "LOG_LEVEL": "INFO"})
        started.append(bridge)
        return bridge.proc

    yield start
    for bridge in started:
        bridge.stop()


@dataclass
class Fleet:
    """The test's handles on one symbol's live fleet."""

    redis: redis_lib.Redis
    exchange: Any
    sim: Any
    venue_kind: str = "sim"

    def tick(self, price: str) -> None:
        """Trade the venue at price; return once the grid has settled on it."""
        store = SymbolStore(self.redis, SYMBOL)
        token = store.acquire(GATE_TTL_MS, wait_s=20)  # waits for a running step to finish
        assert token is not None, "the worker kept the symbol lock"
        try:
            tick = self.sim.inject_price(SYMBOL, price)
            eventually(lambda: self._tick_and_fills_in_redis(tick.seq), timeout_s=15)
        finally:
            store.release(token)
        wake(app, SYMBOL)  # a step that gave up on the held lock is covered by this one
        eventually(lambda: self._settled(D(price), tick.ts_event_ms), timeout_s=30)

    def _tick_and_fills_in_redis(self, seq: int) -> bool:
        k = keys_for(SYMBOL)
        if int(self.redis.hget(k.tick, "seq") or -1) < seq:
            return False
        inbox = " ".join(fields["e"] for _, fields in self.redis.xrange(k.inbox))
        return all(t.trade_id in inbox for t in self.exchange.trades(SYMBOL))

    def _settled(self, price: Decimal, ts_event_ms: int) -> bool:
        k = keys_for(SYMBOL)
        meta = self.redis.hgetall(k.state)
        if D(meta.get("last_price", "0")) != price:
            return False
        if int(meta.get("last_price_ts_ms", 0)) < ts_event_ms:
            return False
        if int(meta.get("last_seq", 0)) != int(self.redis.get(k.seq) or 0):
            return False  # inbox not drained
        if self.redis.llen(SYMBOL.lower()) or self.redis.exists(k.price_pending):
            return False  # a task still waits
        snap = load_snapshot(self.redis, SYMBOL)
        slots = snap.grid.slots.values()
        if any(s.status is SlotStatus.PENDING for s in slots):
            return False
        grid = {(s.side, s.price, s.client_order_id) for s in slots if s.has_order}
        venue = {(o.side, o.price, o.client_order_id) for o in self.exchange.open_orders(SYMBOL)}
        if grid != venue:
            return False
        assert snap.strategy is not None and snap.rules is not None and snap.tick is not None
        # The worker's own decision (breaker, status, fleet state, the grid): nothing to do.
        fx = Effects(grid=snap.grid, meta={}, candles=dict(snap.candles))
        now_ms = time.time_ns() // 1_000_000
        return advance.decide_step(snap, fx, advance.gate(snap, fx, now_ms), now_ms) == []

    # -- what the test asserts on --------------------------------------------------------------
    def resting(self) -> list[tuple[str, Decimal]]:
        return sorted((o.side.value, o.price) for o in self.exchange.open_orders(SYMBOL))

    def fills(self) -> list[Fill]:
        out = []
        for trade in self.exchange.trades(SYMBOL):
            order = self.exchange.get_order(SYMBOL, client_order_id=trade.client_order_id)
            out.append(Fill(trade.side.value, order.price, trade.price, trade.is_maker))
        return out

    def position(self) -> dict[str, str]:
        return self.redis.hgetall(keys_for(SYMBOL).position)


@pytest.fixture
def fleet(
    workers: Any,
    start_bridge: Callable[[], Any],
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    venue_kind: str,
) -> Callable[[dict[str, object]], Fleet]:
    def start(strategy: dict[str, object], risk: dict[str, object] | None = None) -> Fleet:
        workers([SYMBOL.lower()], env={"MMTASKS_LOCK_TTL_MS": WORKER_LOCK_TTL_MS})
        start_bridge()
        eventually(lambda: redis_client.hget(BRIDGE_HEARTBEAT, "state") == "connected", 20)
        init_symbol(redis_client, app, exchange, SYMBOL, strategy, risk)
        eventually(lambda: "strategy" in redis_client.hgetall(keys_for(SYMBOL).config), 20)
        return Fleet(redis_client, exchange, sim, venue_kind)

    return start


def assert_books(fl: Fleet, position: str, realized: str, fees: Decimal) -> None:
    """Redis, the venue and the ledger agree with the hand-worked figures."""
    books = fl.position()
    assert (D(books["qty"]), D(books["realized_pnl"]), D(books["fees"])) == (
        D(position),
        D(realized),
        fees,
    )
    venue = fl.exchange.positions(SYMBOL)[0]  # spot: the base asset held
    if fl.venue_kind == "sim":
        assert (venue.quantity, venue.realized_pnl, venue.fees) == (D(position), D(realized), fees)
    else:  # Binance reports the position's size; its fees are on the trades
        assert venue.quantity == D(position)
        assert sum((t.fee for t in fl.exchange.trades(SYMBOL)), D(0)) == fees
    held = sum(
        (D(json.loads(v)["inventory"]) for v in fl.redis.hgetall(keys_for(SYMBOL).slots).values()),
        D(0),
    )
    assert held == D(position)


# -- the paths -----------------------------------------------------------------------------------


def test_neutral_100_70_100_closing_sell_is_no_reduce_only_and_fills_as_maker(
    fleet: Callable[[dict[str, object]], Fleet],
) -> None:
    fl = fleet(
        {
            "mode": "neutral",
            "interval": "10",
            "buy_levels": 1,
            "sell_levels": 3,
            "order_qty": "1",
            "post_only": True,
        }
    )

    # 100 anchors the grid: BUY 90 (highest level <= 95), SELL 110, 120, 130 (lowest >= 105).
    fl.tick("100")
    assert fl.resting() == [("BUY", D(90)), ("SELL", D(110)), ("SELL", D(120)), ("SELL", D(130))]

    # 70: BUY 90 fills (maker): +1 at 90. SELL 120, 130 are more than one interval beyond the
    # window (> 70 + 4 x 10) and cancelled; SELL 110 stays. Slot 90 gets its closing SELL 100
    # (<= 70 + 3 x 10), a plain limit in neutral mode. Entries: BUY 60; SELL 80 (90 holds
    # inventory, 100 is taken by the closing order).
    fl.tick("70")
    assert fl.resting() == [("BUY", D(60)), ("SELL", D(80)), ("SELL", D(100)), ("SELL", D(110))]
    closing_id = json.loads(fl.redis.hget(keys_for(SYMBOL).slots, "90"))["client_order_id"]
    closing = fl.exchange.get_order(SYMBOL, client_order_id=closing_id)
    assert (closing.side, closing.price) == (Side.SELL, D(100))
    assert (closing.reduce_only, closing.post_only) == (False, False)

    # 100: sells fill lowest first. SELL 80 closes the long bought at 90: realized 80 - 90 = -10,
    # net 0. SELL 100 then opens a short at 100 (a reduce-only order would have been cancelled
    # here by the venue: the net was flat). Then: BUY 60 cancelled (< 100 - 2 x 10); slot 80's
    # closing BUY 70 waits (< 100 - 1 x 10); BUY 90 and SELL 120, 130 placed.
    fl.tick("100")
    assert fl.fills() == [maker("BUY", 90), maker("SELL", 80), maker("SELL", 100)]
    # The closing order placed at 70 is the one that filled: never cancelled, never re-placed.
    closing = fl.exchange.get_order(SYMBOL, client_order_id=closing_id)
    assert (closing.status.value, closing.executed_qty) == ("FILLED", D(1))
    assert [t.client_order_id for t in fl.exchange.trades(SYMBOL)][2] == closing_id
    assert fl.resting() == [("BUY", D(90)), ("SELL", D(110)), ("SELL", D(120)), ("SELL", D(130))]
    # Position -1; realized -10; fees: maker 0.0002 x (90 + 80 + 100) = 0.054.
    assert_books(fl, "-1", "-10", MAKER * (90 + 80 + 100))


@pytest.mark.parametrize("venue_kind", ["sim", "binanceusdm", "binance"], indirect=True)
def test_long_gap_crosses_several_levels_and_passed_closing_orders_fill_as_takers(
    fleet: Callable[[dict[str, object]], Fleet],
) -> None:
    fl = fleet(
        {"mode": "long", "interval": "10", "buy_levels": 3, "sell_levels": 2, "order_qty": "1"}
    )

    fl.tick("100")
    assert fl.resting() == [("BUY", D(70)), ("BUY", D(80)), ("BUY", D(90))]

    # 65, a gap through three levels: BUY 90, 80, 70 fill at their own prices, highest first
    # (+3, average 80). Only slot 70's closing SELL 80 is within 65 + 2 x 10; SELL 90 and
    # SELL 100 wait. Entries BUY 60, 50, 40.
    fl.tick("65")
    assert fl.resting() == [("BUY", D(40)), ("BUY", D(50)), ("BUY", D(60)), ("SELL", D(80))]
    if fl.venue_kind != "binance":  # spot knows no reduce-only: a sell is bounded by holdings
        assert all(o.reduce_only for o in fl.exchange.open_orders(SYMBOL) if o.side is Side.SELL)

    # 105, a gap up: SELL 80 fills as maker (80 - 80 = 0). BUY 60, 50, 40 cancelled
    # (< 105 - 4 x 10). SELL 90 (slot 80) and SELL 100 (slot 90) are now in the window and
    # already passed: placed anyway, they fill at once at 105 as takers, lowest first:
    # +25 and +25. Flat, the next decision places BUY 100, 90, 80.
    fl.tick("105")
    assert fl.fills() == [
        maker("BUY", 90),
        maker("BUY", 80),
        maker("BUY", 70),
        maker("SELL", 80),
        taker("SELL", 90, 105),
        taker("SELL", 100, 105),
    ]
    assert fl.resting() == [("BUY", D(80)), ("BUY", D(90)), ("BUY", D(100))]
    # Realized 0 + 25 + 25 = 50; fees 0.0002 x (90 + 80 + 70 + 80) + 0.0004 x (105 + 105).
    assert_books(fl, "0", "50", MAKER * (90 + 80 + 70 + 80) + TAKER * (105 + 105))


def test_net_position_flips_through_zero_within_one_tick(
    fleet: Callable[[dict[str, object]], Fleet],
) -> None:
    fl = fleet(
        {"mode": "neutral", "interval": "10", "buy_levels": 2, "sell_levels": 3, "order_qty": "1"}
    )

    fl.tick("100")
    assert fl.resting() == [
        ("BUY", D(80)),
        ("BUY", D(90)),
        ("SELL", D(110)),
        ("SELL", D(120)),
        ("SELL", D(130)),
    ]

    # 75: BUY 90, 80 fill (+2, average 85). SELL 120, 130 cancelled (> 75 + 4 x 10). Closing
    # SELL 90 (slot 80) and SELL 100 (slot 90), both within 75 + 3 x 10; entries BUY 70, 60.
    fl.tick("75")
    assert fl.resting() == [
        ("BUY", D(60)),
        ("BUY", D(70)),
        ("SELL", D(90)),
        ("SELL", D(100)),
        ("SELL", D(110)),
    ]

    # 115: sells lowest first: SELL 90 (+5, net +1), SELL 100 (+15, net 0), SELL 110 opens a
    # short at 110 (net -1): +2 -> -1 within one tick, no order refused by the venue. Then
    # BUY 70, 60 cancelled (< 115 - 3 x 10); slot 110's closing BUY 100 (>= 115 - 2 x 10);
    # SELL 120, 130, 140.
    fl.tick("115")
    assert fl.fills() == [
        maker("BUY", 90),
        maker("BUY", 80),
        maker("SELL", 90),
        maker("SELL", 100),
        maker("SELL", 110),
    ]
    assert fl.resting() == [
        ("BUY", D(100)),
        ("SELL", D(120)),
        ("SELL", D(130)),
        ("SELL", D(140)),
    ]
    # Realized 5 + 15 = 20; fees 0.0002 x (90 + 80 + 90 + 100 + 110) = 0.094.
    assert_books(fl, "-1", "20", MAKER * (90 + 80 + 90 + 100 + 110))

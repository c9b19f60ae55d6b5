"""Pure parts of the bridge: backoff, reject counting, and the sink's buffers."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from bridge.backoff import Backoff
from bridge.rejects import RejectCounter
from bridge.sink import Sink
from mmtasks.domain import OrderStatus, Side
from mmtasks.messages import CandleEvent, OrderEvent
from mmtasks.venue import PriceTick

pytestmark = pytest.mark.timeout(10)
NOW_MS = 1_800_000_000_000


def test_backoff_grows_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(base_s=0.1, cap_s=2.0, rng=random.Random(1))

    delays = [backoff.next_delay_s() for _ in range(12)]

    assert all(0.05 <= d <= 2.0 for d in delays)
    assert max(delays[:2]) <= 0.2  # first attempts stay near the base
    assert max(delays[6:]) > 1.0  # later ones reach toward the cap
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    backoff.reset()
    assert backoff.next_delay_s() <= 0.1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rejects_are_counted_per_reason_and_logged_once_per_interval() -> None:
    clock = FakeClock()
    rejects = RejectCounter(log_interval_s=10, clock=clock)

    logged = [rejects.count("price", "bad_decimal", "x") for _ in range(5)]
    logged.append(rejects.count("orders", "unknown_symbol", "y"))
    clock.now = 11
    logged.append(rejects.count("price", "bad_decimal", "z"))

    assert logged == [True, False, False, False, False, True, True]
    assert rejects.totals == {"bad_decimal": 6, "unknown_symbol": 1}
    assert rejects.take_pending() == {"bad_decimal": 6, "unknown_symbol": 1}
    assert rejects.take_pending() == {}


def test_failed_reject_writes_are_kept_for_the_next_write() -> None:
    rejects = RejectCounter()
    rejects.count("price", "oversized", "x")
    pending = rejects.take_pending()
    rejects.count("price", "oversized", "x")

    rejects.restore_pending(pending)

    assert rejects.take_pending() == {"oversized": 2}


def tick(symbol: str, price: str, seq: int) -> PriceTick:
    return PriceTick(symbol=symbol, price=Decimal(price), ts_event_ms=NOW_MS, seq=seq)


def order(symbol: str, order_id: str) -> OrderEvent:
    return OrderEvent(
        symbol=symbol,
        order_id=order_id,
        client_order_id="",
        side=Side.BUY,
        status=OrderStatus.NEW,
        price=Decimal(1),
        quantity=Decimal(1),
        executed_qty=Decimal(0),
        avg_price=Decimal(0),
        ts_event_ms=NOW_MS,
    )


def candle(symbol: str, open_ms: int, close: str, closed: bool) -> CandleEvent:
    c = Decimal(close)
    return CandleEvent(
        symbol=symbol,
        interval="1m",
        open_ms=open_ms,
        open=c,
        high=c,
        low=c,
        close=c,
        volume=Decimal(1),
        closed=closed,
    )


def make_sink(clock: FakeClock | None = None) -> Sink:
    """Return a sink whose writer thread is never started: only its buffers are exercised."""
    from mmtasks.celery import app

    return Sink(
        client=None,
        app=app,
        rejects=RejectCounter(),  # type: ignore[arg-type]
        clock=clock or FakeClock(),
    )


@pytest.fixture
def sink() -> Sink:
    return make_sink()


def test_ticks_conflate_to_the_newest_per_symbol(sink: Sink) -> None:
    for seq, price in enumerate(["1", "2", "3"]):
        sink.put_tick(tick("AAAUSDT", price, seq))
    sink.put_tick(tick("BBBUSDT", "9", 7))

    batch = sink._take()

    assert batch.ticks == {"AAAUSDT": tick("AAAUSDT", "3", 2), "BBBUSDT": tick("BBBUSDT", "9", 7)}


def test_events_keep_arrival_order_and_forming_candles_pass_once_per_interval() -> None:
    clock = FakeClock()
    sink = make_sink(clock)
    sink.put_event(candle("AAAUSDT", 60_000, "1", closed=False))
    sink.put_event(order("AAAUSDT", "o1"))
    sink.put_event(candle("AAAUSDT", 60_000, "2", closed=False))
    sink.put_event(candle("BBBUSDT", 60_000, "5", closed=False))
    sink.put_event(order("AAAUSDT", "o2"))

    first = sink._take().events
    sink.put_event(candle("AAAUSDT", 60_000, "3", closed=False))  # held: within the interval
    sink.put_event(candle("AAAUSDT", 60_000, "4", closed=True))  # the close replaces it
    sink.put_event(candle("AAAUSDT", 120_000, "5", closed=False))
    second = sink._take().events
    clock.now = 1.0
    third = sink._take().events

    assert first == [
        order("AAAUSDT", "o1"),
        order("AAAUSDT", "o2"),
        candle("AAAUSDT", 60_000, "2", closed=False),
        candle("BBBUSDT", 60_000, "5", closed=False),
    ]
    assert second == [candle("AAAUSDT", 60_000, "4", closed=True)]
    assert third == [candle("AAAUSDT", 120_000, "5", closed=False)]


def test_an_unwritten_batch_goes_back_in_front_of_newer_events(sink: Sink) -> None:
    sink.put_event(order("AAAUSDT", "o1"))
    sink.put_tick(tick("AAAUSDT", "1", 1))
    failed = sink._take()
    sink.put_event(order("AAAUSDT", "o2"))
    sink.put_tick(tick("AAAUSDT", "2", 2))

    sink._put_back(failed)
    batch = sink._take()

    assert [e.order_id for e in batch.events] == ["o1", "o2"]  # type: ignore[union-attr]
    assert batch.ticks == {"AAAUSDT": tick("AAAUSDT", "2", 2)}

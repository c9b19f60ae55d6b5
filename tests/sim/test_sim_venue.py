"""The sim as a Venue in process: streams from the last tick on, filters, unsubscribe."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtasks.domain import OrderStatus
from mmtasks.errors import UnknownSymbolError, ValidationError
from mmtasks.sim import SimConfig, SimExchange, SimVenue
from mmtasks.venue import Kline, OrderUpdate, PriceTick

D = Decimal


def venue() -> SimVenue:
    return SimVenue(SimExchange(SimConfig(symbols=("BTCUSDT", "ETHUSDT"), id_prefix="")))


def test_a_price_listener_gets_the_last_tick_then_each_new_one_of_its_symbols() -> None:
    sim = venue()
    got: list[PriceTick] = []
    sim.inject_price("ETHUSDT", "2001")

    sim.subscribe("price", got.append, symbols=["ethusdt"])
    sim.inject_price("BTCUSDT", "30001")
    sim.inject_price("ETHUSDT", "2002.5")

    assert [(t.symbol, t.price, t.seq) for t in got] == [
        ("ETHUSDT", D(2001), 1),
        ("ETHUSDT", D("2002.5"), 2),
    ]


def test_an_order_listener_stops_after_unsubscribe() -> None:
    sim = venue()
    got: list[OrderUpdate] = []
    sim.subscribe("order", got.append)
    sim.place_order("BTCUSDT", "BUY", "29000", "0.001", "su1")

    sim.unsubscribe("order", got.append)
    sim.place_order("BTCUSDT", "BUY", "29000", "0.001", "su2")

    assert [(u.order.client_order_id, u.order.status) for u in got] == [("su1", OrderStatus.NEW)]


def test_a_kline_listener_gets_only_its_interval() -> None:
    sim = venue()
    got: list[Kline] = []
    sim.subscribe("kline", got.append, interval="5m")

    sim.inject_price("BTCUSDT", "30010", volume="2")

    assert got and {k.interval for k in got} == {"5m"}
    assert (got[-1].close, got[-1].volume) == (D(30010), D(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"symbols": ["DOGEUSDT"]}, UnknownSymbolError, "symbol 'DOGEUSDT' is not traded here"),
        (
            {"interval": "5s"},
            ValidationError,
            "interval must be one of 1s, 1m, 5m, 15m, 1h, received .5s.",
        ),
    ],
)
def test_a_stream_of_an_unknown_symbol_or_interval_is_refused(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    sim = venue()

    with pytest.raises(error, match=message):
        sim.subscribe("kline", lambda _: None, **kwargs)  # type: ignore[arg-type]


def test_klines_and_trades_answer_like_the_wire() -> None:
    sim = venue()
    sim.place_order("BTCUSDT", "BUY", "29000", "0.001", "kt1")
    sim.inject_price("BTCUSDT", "28990")

    trades = sim.trades("BTCUSDT")

    assert [(t.client_order_id, t.price, t.quantity) for t in trades] == [
        ("kt1", D(29000), D("0.001"))
    ]
    assert sim.klines("BTCUSDT", "1m", limit=0) == []  # no candle has closed yet

"""The ccxt venue against the Binance-speaking simulator: unmodified ccxt, real HTTP and sockets.

Each expectation follows from Binance's rules and the port's contract (docs/venue.md): a refused
order comes back REJECTED with the venue's code, a known client id as the existing order, a lost
answer resolved by the client id, a rate limit as a temporary error with the venue's wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from mmtasks.domain import OrderStatus
from mmtasks.errors import OrderNotFoundError, RateLimitedError, TemporaryError, ValidationError
from mmtasks.registry.configs import parse_strategy_config
from mmtasks.registry.symbol_commands import checked_rules
from mmtasks.sim.binance.server import SimServer
from mmtasks.venue.types import OrderUpdate, PriceTick
from mmtasks.venues.ccxt.errors import BadKeysError
from tests.binance.conftest import set_clock, set_faults, set_price, sim_orders, sim_trades
from tests.helpers import eventually

D = Decimal
DAY_MS = 86_400_000


def test_rules_come_from_the_venues_markets_and_fee_rates(make_venue: Callable[..., Any]) -> None:
    venue = make_venue()

    rules = venue.symbol_info("BTCUSDT")

    # The simulator's BTCUSDT: tick 0.01, step 0.00001, min qty 0.00001, min notional 5.
    assert (rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional) == (
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D(5),
    )
    assert (rules.maker_fee_rate, rules.taker_fee_rate) == (D("0.0002"), D("0.0004"))
    assert (rules.venue, rules.spot, rules.reduce_only) == ("binanceusdm", False, True)
    assert venue.unified("BTCUSDT") == "BTC/USDT:USDT"


def test_a_client_id_is_sent_as_the_venues_and_a_resend_returns_the_same_order(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    venue = make_venue()

    first, duplicate_first = venue.place_order(
        "BTCUSDT", "BUY", "29000", "0.001", "g1b29000", post_only=True
    )
    again, duplicate_again = venue.place_order(
        "BTCUSDT", "BUY", "29000", "0.001", "g1b29000", post_only=True
    )

    assert (first.status, first.post_only, duplicate_first) == (OrderStatus.NEW, True, False)
    assert duplicate_again and again.order_id == first.order_id
    [resting] = sim_orders(sim)
    assert (resting["clientOrderId"], resting["timeInForce"]) == ("g1b29000", "GTX")


def test_refused_orders_come_back_rejected_with_the_venues_code(
    make_venue: Callable[..., Any],
) -> None:
    venue = make_venue()

    crossing, _ = venue.place_order("BTCUSDT", "BUY", "30000", "0.001", "p1", post_only=True)
    growing, _ = venue.place_order("BTCUSDT", "SELL", "31000", "0.001", "r1", reduce_only=True)
    small, _ = venue.place_order("BTCUSDT", "BUY", "29000", "0.0001", "n1")

    assert crossing.status is OrderStatus.REJECTED and crossing.reject_reason.startswith("-5022")
    assert growing.status is OrderStatus.REJECTED and growing.reject_reason.startswith("-2022")
    assert small.status is OrderStatus.REJECTED and small.reject_reason.startswith("-4164")
    with pytest.raises(ValidationError, match="not on BTCUSDT's tick size"):
        venue.place_order("BTCUSDT", "BUY", "29000.005", "0.001", "t1")


def test_a_create_answered_5xx_after_the_venue_took_it_is_found_not_sent_again(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    venue = make_venue()
    for body in ("json", "html"):
        set_faults(
            sim, accept_then_fail=1, fail_status=503 if body == "json" else 502, fail_body=body
        )

        order, _ = venue.place_order("BTCUSDT", "BUY", "29000", "0.001", f"a{body}", post_only=True)

        assert order.status is OrderStatus.NEW and order.client_order_id == f"a{body}"
    # One order per client id at the venue: no orphan, no duplicate.
    assert sorted(o["clientOrderId"] for o in sim_orders(sim)) == ["ahtml", "ajson"]


def test_a_rate_limit_is_temporary_and_carries_the_venues_retry_after(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    venue = make_venue()
    set_faults(
        sim,
        error_next=[
            {
                "path": "/fapi/v1/openOrders",
                "status": 429,
                "code": -1003,
                "msg": "Too much request weight used.",
                "retry_after": 7,
            }
        ],
    )

    with pytest.raises(RateLimitedError) as caught:
        venue.open_orders("BTCUSDT")
    assert venue.open_orders("BTCUSDT") == []  # the next call goes through
    assert caught.value.retry_after_s == 7


def test_bad_keys_are_an_operational_error_that_names_the_fix(
    make_venue: Callable[..., Any],
) -> None:
    venue = make_venue(secret="not-the-secret")

    with pytest.raises(BadKeysError, match="MMTASKS_VENUE_API_SECRET"):
        venue.open_orders("BTCUSDT")
    with pytest.raises(BadKeysError):
        venue.place_order("BTCUSDT", "BUY", "29000", "0.001", "k1")


def test_cancel_get_and_unknown_orders(make_venue: Callable[..., Any]) -> None:
    venue = make_venue()
    placed, _ = venue.place_order("BTCUSDT", "BUY", "29000", "0.001", "c1", post_only=True)

    cancelled = venue.cancel_order("BTCUSDT", client_order_id="c1")

    assert (cancelled.order_id, cancelled.status) == (placed.order_id, OrderStatus.CANCELED)
    got = venue.get_order("BTCUSDT", client_order_id="c1")
    assert got is not None and got.status is OrderStatus.CANCELED
    assert venue.get_order("BTCUSDT", client_order_id="never") is None
    with pytest.raises(OrderNotFoundError):
        venue.cancel_order("BTCUSDT", client_order_id="c1")


def test_fills_reach_the_order_stream_in_order_and_through_trades_once(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    venue = make_venue()
    events: list[Any] = []
    lock = threading.Lock()

    def keep(event: Any) -> None:
        with lock:
            events.append(event)

    venue.subscribe("order", keep)
    venue.subscribe("price", keep, symbols=["BTCUSDT"])
    eventually(lambda: any(isinstance(e, PriceTick) for e in events))
    venue.place_order("BTCUSDT", "BUY", "29000", "0.001", "s1", post_only=True)
    venue.place_order("BTCUSDT", "BUY", "28000", "0.001", "s2", post_only=True)
    eventually(lambda: sum(isinstance(e, OrderUpdate) for e in events) == 2)

    set_price(sim, "BTCUSDT", "27990")  # both buys fill, 29000 first (the book's order)

    def fills() -> list[tuple[str, Decimal]]:
        with lock:
            return [
                (e.last_trade.client_order_id, e.last_trade.price)
                for e in events
                if isinstance(e, OrderUpdate) and e.last_trade
            ]

    eventually(lambda: len(fills()) == 2)
    assert fills() == [("s1", D(29000)), ("s2", D(28000))]
    with lock:
        seqs = [e.seq for e in events if isinstance(e, OrderUpdate)]
        ticks = [e.price for e in events if isinstance(e, PriceTick)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert ticks[0] == D(30000) and ticks[-1] == D(27990)
    trades = venue.trades("BTCUSDT")
    assert [(t.client_order_id, t.price, t.fee) for t in trades] == [
        ("s1", D(29000), D("0.0058")),  # maker 0.0002 x 29
        ("s2", D(28000), D("0.0056")),
    ]
    [position] = venue.positions("BTCUSDT")
    assert (position.quantity, position.entry_price) == (D("0.002"), D(28500))


@pytest.mark.parametrize(("exchange_id", "market"), [("binanceusdm", "usdm"), ("binance", "spot")])
def test_fills_days_apart_are_all_found_across_the_venues_trade_windows(
    sim: SimServer, make_venue: Callable[..., Any], exchange_id: str, market: str
) -> None:
    # Arrange: a buy fills 9 days ago (the simulator's markets set back), another now. The
    # symbol's last counted trade is 10 days old: more than one of the venue's trade windows
    # back (USDⓈ-M 7 days, spot 24 hours), and the two fills are in different windows.
    venue = make_venue(exchange_id)
    set_clock(sim, shift_ms=-9 * DAY_MS)
    venue.place_order("BTCUSDT", "BUY", "29000", "0.001", "old1", post_only=True)
    set_price(sim, "BTCUSDT", "28990", market)
    set_clock(sim, shift_ms=0)
    set_price(sim, "BTCUSDT", "30000", market)
    venue.place_order("BTCUSDT", "BUY", "29500", "0.001", "new1", post_only=True)
    set_price(sim, "BTCUSDT", "29490", market)
    eventually(lambda: len(sim_trades(sim, market)) == 2)
    since_ms = int(time.time() * 1000) - 10 * DAY_MS

    # Act
    trades = venue.trades("BTCUSDT", since_ms=since_ms)

    # Assert: the port's contract, every trade at or after since_ms, oldest first.
    assert [(t.client_order_id, t.price) for t in trades] == [
        ("old1", D(29000)),
        ("new1", D(29500)),
    ]


def test_a_fill_whose_order_cannot_be_looked_up_is_not_returned_without_its_client_id(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    # Arrange: an order placed by one connector and filled; another connector (as after a
    # restart: it knows no order id yet) must ask the order for the fill's client id (Binance's
    # trade list carries none), and the venue answers that look-up 503 once.
    first = make_venue()
    first.place_order("BTCUSDT", "BUY", "29000", "0.001", "lost1", post_only=True)
    set_price(sim, "BTCUSDT", "28990")
    again = make_venue()
    set_faults(
        sim,
        error_next=[
            {"path": "/fapi/v1/order", "method": "GET", "status": 503, "code": -1001, "msg": "x"}
        ],
    )

    # Act + Assert: the page fails as temporary (reconcile backs off and asks again) instead of
    # handing back a trade with no client id, which reconcile would take for another's fill.
    with pytest.raises(TemporaryError):
        again.trades("BTCUSDT")
    [trade] = again.trades("BTCUSDT")  # the venue answers again: the fill, with its id
    assert (trade.client_order_id, trade.price, trade.quantity) == ("lost1", D(29000), D("0.001"))


def test_a_price_listener_misses_no_trade_made_while_the_ticker_answers(
    sim: SimServer, make_venue: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listener's first price is the ticker's, unless a trade came while the ticker answered:
    then that trade, and never the ticker's older price after it (the stream being open)."""
    venue = make_venue()
    first: list[Decimal] = []
    venue.subscribe("price", lambda e: first.append(e.price), symbols=["BTCUSDT"])
    set_price(sim, "BTCUSDT", "29500")
    eventually(lambda: first[-1] == D(29500))  # the trade stream is open and delivers
    ticker = venue.latest_price

    def ticker_then_a_trade(symbol: str) -> PriceTick:
        tick = ticker(symbol)
        set_price(sim, "BTCUSDT", "29400")  # traded while the ticker's answer was on its way
        eventually(lambda: second == [D(29400)])  # the new listener hears it already
        return tick

    second: list[Decimal] = []
    monkeypatch.setattr(venue, "latest_price", ticker_then_a_trade)
    venue.subscribe("price", lambda e: second.append(e.price), symbols=["BTCUSDT"])
    assert second == [D(29400)]  # and not the ticker's 29500 after it
    set_price(sim, "BTCUSDT", "29300")
    eventually(lambda: second == [D(29400), D(29300)])
    monkeypatch.undo()
    third: list[Decimal] = []  # no trade meanwhile: the ticker's price opens
    venue.subscribe("price", lambda e: third.append(e.price), symbols=["BTCUSDT"])
    assert third == [D(29300)]


def test_a_dropped_user_socket_ends_the_downstream_streams_and_reconnects(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    import httpx

    venue = make_venue()
    dropped: list[int] = []
    venue.add_stream_dropper(lambda: dropped.append(1))
    updates: list[OrderUpdate] = []
    venue.subscribe("order", updates.append)
    venue.place_order("BTCUSDT", "BUY", "29000", "0.001", "d1", post_only=True)
    eventually(lambda: len(updates) == 1)

    def user_sockets() -> int:
        return int(httpx.get(f"{sim.base_url}/_sim/stats").json()["user_sockets"])

    assert user_sockets() == 1
    httpx.post(f"{sim.base_url}/_sim/drop-user-streams").raise_for_status()
    eventually(lambda: dropped)

    # The venue reconnects by itself; once the simulator holds its socket again, updates flow
    # (what happened in between is the bridge's reconcile to find, not the stream's).
    eventually(lambda: user_sockets() == 1, timeout_s=15)
    venue.place_order("BTCUSDT", "BUY", "28000", "0.001", "d2", post_only=True)
    eventually(lambda: any(u.order.client_order_id == "d2" for u in updates), timeout_s=15)


def test_spot_places_limit_makers_refuses_a_sell_it_cannot_cover_and_a_neutral_grid(
    sim: SimServer, make_venue: Callable[..., Any]
) -> None:
    venue = make_venue("binance")

    buy, _ = venue.place_order("BTCUSDT", "BUY", "29000", "0.001", "sb1", post_only=True)
    sell, _ = venue.place_order("BTCUSDT", "SELL", "31000", "0.001", "ss1", post_only=True)

    assert buy.status is OrderStatus.NEW and buy.post_only
    assert [o["type"] for o in sim_orders(sim, "spot")] == ["LIMIT_MAKER"]
    assert sell.status is OrderStatus.REJECTED
    # ccxt matched Binance's message (-2010 has many): the reason is the venue's words.
    assert sell.reject_reason == "Account has insufficient balance for requested action."
    rules = venue.symbol_info("BTCUSDT")
    assert (rules.spot, rules.reduce_only, venue.unified("BTCUSDT")) == (True, False, "BTC/USDT")
    neutral = parse_strategy_config({"interval": "100", "mode": "neutral", "order_qty": "0.001"})
    with pytest.raises(ValidationError, match=r"strategy\.mode: neutral holds short inventory"):
        checked_rules(venue, "BTCUSDT", neutral)
    long = parse_strategy_config({"interval": "100", "mode": "long", "order_qty": "0.001"})
    assert checked_rules(venue, "BTCUSDT", long)["tick_size"] == "0.01"


def test_a_symbol_registered_on_one_venue_is_refused_on_a_connector_of_another(
    make_venue: Callable[..., Any],
) -> None:
    venue = make_venue()  # a binanceusdm connector
    grid = parse_strategy_config({"interval": "100", "mode": "neutral", "order_qty": "0.001"})

    with pytest.raises(ValidationError, match=r"MMTASKS_VENUES \(binance=HOST:PORT\)"):
        checked_rules(venue, "BTCUSDT", grid, venue="binance")
    assert checked_rules(venue, "BTCUSDT", grid, venue="binanceusdm")["tick_size"] == "0.01"


def test_paper_trading_takes_the_venues_prices_and_fills_in_the_simulators_engine(
    sim: SimServer,
) -> None:
    from mmtasks.venues.ccxt import CcxtConfig
    from mmtasks.venues.paper import PaperVenue

    paper = PaperVenue(CcxtConfig("binanceusdm", symbols=("BTCUSDT",), base_url=sim.base_url))
    try:
        # Rules and the start price come from the venue (no keys needed).
        rules = paper.symbol_info("BTCUSDT")
        assert (rules.tick_size, rules.venue) == (D("0.01"), "binanceusdm (paper)")
        assert paper.latest_price("BTCUSDT").price == D(30000)
        order, _ = paper.place_order("BTCUSDT", "BUY", "29000", "0.001", "pp1", post_only=True)

        set_price(sim, "BTCUSDT", "28990")  # the real market trades through the order's price

        # The paper engine saw the venue's trade and filled the order; the venue holds nothing.
        eventually(lambda: paper.latest_price("BTCUSDT").price == D(28990))
        filled = paper.get_order("BTCUSDT", client_order_id="pp1")
        assert filled is not None and filled.status is OrderStatus.FILLED
        assert [t.price for t in paper.trades("BTCUSDT")] == [D(29000)]
        assert sim_orders(sim) == [] and order.order_id
    finally:
        paper.close()

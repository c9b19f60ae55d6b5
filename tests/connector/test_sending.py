"""The connector holds the client ids it is still sending, so "not found" is never said too early.

In process, on the simulator's venue (a real matching engine): a create under way or answered
unclearly is held, a lookup of a held id that the venue does not know is answered "ask again"
(a temporary error: the worker backs off), and a clear answer lets the id go at once. The whole
path (worker, connector over ccxt, the Binance simulator acting late) is
tests/venue_fleet/test_venue_faults.py.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal

import pytest

from mmtasks.connector.sending import Sending
from mmtasks.errors import (
    AmbiguousOutcomeError,
    OrderStillSending,
    RateLimitedError,
    Response,
    TemporaryError,
    policy_for,
)
from mmtasks.venue.types import OrderRequest, PlaceResult
from tests.kit.configs import sim_venue

SYMBOL = "SENDUSDT"


def buy(cid: str, price: str = "90", qty: str = "1") -> OrderRequest:
    return OrderRequest(SYMBOL, "BUY", Decimal(qty), Decimal(price), cid)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class GatedVenue:
    """The simulator's venue whose creates wait for a gate (a slow network), and may then lose
    their answer after the venue took them (a gateway's 5xx: the outcome is unclear)."""

    def __init__(self, lose_answer: bool = False) -> None:
        self.venue = sim_venue(SYMBOL)
        self.entered, self.gate = threading.Event(), threading.Event()
        self.lose_answer = lose_answer

    def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
        self.entered.set()
        self.gate.wait(10)
        results = self.venue.batch_place(orders)
        if self.lose_answer:
            return [PlaceResult(None, error=AmbiguousOutcomeError("503 from the gateway"))]
        return results

    def get_order(self, symbol: str, *, client_order_id: str) -> object:
        return self.venue.get_order(symbol, client_order_id=client_order_id)


def test_an_id_is_held_while_its_create_is_under_way_and_let_go_once_placed() -> None:
    venue, sending = GatedVenue(), Sending()
    sender = threading.Thread(target=sending.place, args=(venue, [buy("mma")]))
    sender.start()
    assert venue.entered.wait(10)

    # Under way: the venue does not know it yet, and "not found" is not final.
    assert venue.get_order(SYMBOL, client_order_id="mma") is None
    with pytest.raises(OrderStillSending) as held:
        sending.check_unknown("mma", held_before=sending.holds("mma"))
    assert isinstance(held.value, TemporaryError)
    assert policy_for(held.value) is Response.RETRY  # the worker backs off and asks again
    sending.check_unknown("mmother", held_before=False)  # an id nobody sends is not held

    venue.gate.set()
    sender.join(10)
    assert not sending.holds("mma")
    order = venue.get_order(SYMBOL, client_order_id="mma")
    assert order is not None and order.price == Decimal(90)


def test_an_unclear_answer_holds_the_id_for_the_late_landing_window() -> None:
    clock = Clock()
    venue, sending = GatedVenue(lose_answer=True), Sending(late_s=15, clock=clock)
    venue.gate.set()
    [result] = sending.place(venue, [buy("mmb")])
    assert isinstance(result.error, AmbiguousOutcomeError)

    clock.now += 14.9
    assert sending.holds("mmb")
    clock.now += 0.2  # 15.1 s after the answer: any late create would have landed
    assert not sending.holds("mmb")
    sending.check_unknown("mmb", held_before=False)


def test_a_refused_create_lets_the_id_go_at_once() -> None:
    venue, sending = GatedVenue(), Sending()
    venue.gate.set()
    # Under the symbol's minimum notional (1): the venue says no, nothing can land later.
    [result] = sending.place(venue, [buy("mmc", price="1", qty="0.001")])
    assert result.error is not None
    assert policy_for(result.error) in (Response.RECORD, Response.REPORT)
    assert not sending.holds("mmc")


def test_a_venue_call_that_raises_holds_every_id_it_was_sending() -> None:
    clock = Clock()
    sending = Sending(late_s=15, clock=clock)

    class Down(GatedVenue):
        def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
            raise ConnectionError("connection reset after the request was sent")

    with pytest.raises(ConnectionError):
        sending.place(Down(), [buy("mmd"), buy("mme", price="80")])
    assert sending.holds("mmd") and sending.holds("mme")
    clock.now += 16
    assert not sending.holds("mmd") and not sending.holds("mme")


def test_a_create_that_lands_during_the_lookup_is_not_called_not_found() -> None:
    # The lookup starts while the create is under way and the venue answers "not found"; the
    # create lands and is let go before that answer is read: still not final.
    venue, sending = GatedVenue(), Sending()
    sender = threading.Thread(target=sending.place, args=(venue, [buy("mmf")]))
    sender.start()
    assert venue.entered.wait(10)
    held = sending.holds("mmf")  # as GetOrder asks, before the venue
    looked_up = venue.get_order(SYMBOL, client_order_id="mmf")
    venue.gate.set()
    sender.join(10)

    assert looked_up is None and not sending.holds("mmf")
    with pytest.raises(OrderStillSending):
        sending.check_unknown("mmf", held_before=held)


def test_a_venue_answer_that_does_not_match_the_batch_holds_its_ids_for_the_window_only() -> None:
    clock = Clock()
    sending = Sending(late_s=15, clock=clock)

    class Short(GatedVenue):
        def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
            return []  # fewer answers than orders: nothing is clear

    with pytest.raises(ValueError):
        sending.place(Short(), [buy("mmg")])
    assert sending.holds("mmg")
    clock.now += 16
    assert not sending.holds("mmg")


def test_a_rate_limited_create_was_not_placed_and_is_let_go_at_once() -> None:
    class Limited(GatedVenue):
        def batch_place(self, orders: Sequence[OrderRequest]) -> list[PlaceResult]:
            return [PlaceResult(None, error=RateLimitedError("429 Too many requests", 3.0))]

    sending = Sending()
    sending.place(Limited(), [buy("mmh")])
    assert not sending.holds("mmh")

"""SimControl: scheduled failures, latency, the feed, exchange-side cancels, rate limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from connector_helpers import eventually, start_connector, stop_connector

from mmtasks.connector.client import ExchangeClient
from mmtasks.connector.sim_client import SimControlClient
from mmtasks.domain import OrderStatus
from mmtasks.errors import (
    AmbiguousOutcomeError,
    OperationalError,
    OrderNotFoundError,
    TemporaryError,
    ValidationError,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

D = Decimal


@pytest.fixture(scope="module")
def connector_args() -> list[str]:
    return ["--feed", "random", "--symbols", "BTCUSDT,ETHUSDT", "--tick-ms", "20"]


@pytest.fixture(scope="module", autouse=True)
def feed_paused(control: SimControlClient) -> None:
    """Hold prices still unless a test moves them."""
    control.set_feed(paused=True)


@pytest.fixture
def no_faults(control: SimControlClient) -> Iterator[None]:
    """Leave no scheduled failure or latency behind for the next test."""
    yield
    control.fail_next_calls(0)
    control.set_latency(0)
    control.set_feed(paused=True)


def test_fail_next_calls_of_one_method(
    client: ExchangeClient, control: SimControlClient, no_faults: None
) -> None:
    control.fail_next_calls(2, "UNAVAILABLE", method="GetAccount")

    outcomes = []
    for _ in range(3):
        try:
            client.account()
            outcomes.append("ok")
        except TemporaryError:
            outcomes.append("temporary")
        client.positions()  # other methods are unaffected

    assert outcomes == ["temporary", "temporary", "ok"]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("UNAVAILABLE", TemporaryError),
        ("RESOURCE_EXHAUSTED", TemporaryError),
        ("DEADLINE_EXCEEDED", AmbiguousOutcomeError),
        ("INTERNAL", AmbiguousOutcomeError),  # on a mutating call the outcome is unknown
        ("NOT_FOUND", OrderNotFoundError),
        ("INVALID_ARGUMENT", ValidationError),
        ("PERMISSION_DENIED", OperationalError),
    ],
)
def test_status_codes_map_to_mmtasks_errors(
    client: ExchangeClient,
    control: SimControlClient,
    no_faults: None,
    code: str,
    error: type[Exception],
) -> None:
    control.fail_next_calls(1, code, method="PlaceOrder")

    with pytest.raises(error):
        client.place_order("BTCUSDT", "BUY", "20000", "0.001", f"ctl{code.replace('_', '')}")

    assert client.get_order("BTCUSDT", client_order_id=f"ctl{code.replace('_', '')}") is None


def test_fail_next_calls_rejects_an_unknown_code_or_method(control: SimControlClient) -> None:
    with pytest.raises(ValidationError, match="gRPC status name"):
        control.fail_next_calls(1, "TEAPOT")
    with pytest.raises(ValidationError, match="ExchangeService method"):
        control.fail_next_calls(1, "UNAVAILABLE", method="MakeMoney")


def test_latency_beyond_the_deadline_is_an_ambiguous_outcome(
    connector: str, control: SimControlClient, no_faults: None
) -> None:
    control.set_latency(500)

    with ExchangeClient(connector, timeout_s=0.1) as hasty, pytest.raises(AmbiguousOutcomeError):
        hasty.place_order("BTCUSDT", "BUY", "20000", "0.001", "ctlSlow1")

    control.set_latency(0)
    with ExchangeClient(connector) as patient:
        order = patient.get_order("BTCUSDT", client_order_id="ctlSlow1")
    # The order was placed, only its answer was late: exactly the ambiguity the error warns of.
    assert order is not None and order.status is OrderStatus.NEW


def test_feed_resumes_and_pauses(
    client: ExchangeClient, control: SimControlClient, no_faults: None
) -> None:
    start = client.latest_price("ETHUSDT").seq

    control.set_feed(paused=False, interval_ms=5)
    eventually(lambda: _advanced(client, start + 10))
    control.set_feed(paused=True)
    settled = eventually(lambda: _stable(client))

    assert settled > start


def _advanced(client: ExchangeClient, seq: int) -> bool:
    return client.latest_price("ETHUSDT").seq >= seq


def _stable(client: ExchangeClient) -> int:
    first = client.latest_price("ETHUSDT").seq
    second = client.latest_price("ETHUSDT").seq
    assert first == second  # no tick landed between two calls
    return first


def test_inject_price_fills_crossed_orders_and_exchange_cancel(
    client: ExchangeClient, control: SimControlClient
) -> None:
    client.place_order("BTCUSDT", "SELL", "30500", "0.001", "ctlInj1")
    client.place_order("BTCUSDT", "SELL", "31000", "0.001", "ctlInj2")

    tick = control.inject_price("BTCUSDT", "30600", volume="2.5")
    canceled = control.exchange_cancel("BTCUSDT", client_order_id="ctlInj2")

    assert tick.price == D(30600)
    filled = client.get_order("BTCUSDT", client_order_id="ctlInj1")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert canceled.status is OrderStatus.CANCELED and "exchange" in canceled.reject_reason
    with pytest.raises(ValidationError, match="tick size"):
        control.inject_price("BTCUSDT", "30600.001")


def test_fill_order_of_more_than_remains_is_refused(
    client: ExchangeClient, control: SimControlClient
) -> None:
    client.place_order("ETHUSDT", "BUY", "1000", "0.01", "ctlOver1")

    with pytest.raises(ValidationError, match=r"remaining 0\.01"):
        control.fill_order("ETHUSDT", client_order_id="ctlOver1", quantity="0.02")


def test_rate_limit_answers_resource_exhausted_as_temporary_error() -> None:
    proc, addr = start_connector(["--feed", "none", "--rate-limit", "5"])
    try:
        with ExchangeClient(addr) as client:
            client.wait_ready()
            ok = errors = 0
            started = time.monotonic()
            for _ in range(30):
                try:
                    client.latest_price("BTCUSDT")
                    ok += 1
                except TemporaryError as exc:
                    assert "rate limit" in str(exc)
                    errors += 1
            elapsed = time.monotonic() - started
        assert errors > 0
        assert ok <= 5 + 5 * elapsed + 1  # a burst of 5, then 5 per second
    finally:
        stop_connector(proc)

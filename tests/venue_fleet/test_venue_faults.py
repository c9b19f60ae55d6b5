"""Faults of a real venue, through the whole path: worker -> connector (ccxt, unmodified) ->
the Binance-speaking simulator, its fills back through ccxt's user stream and the bridge.

What only processes prove: a user socket dropped while orders fill loses no fill (the
connector ends its streams, the bridge reconciles); a create whose answer is a 5xx after the
venue took it leaves one order; a 429 with Retry-After degrades the symbol for at least that
long, then it trades by itself; refused keys stop the symbol loudly, without a retry storm.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.enqueue import wake
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.keys import keys_for
from tests.integration.conftest import ledger_rows, resting
from tests.kit.binance import BinanceSimControl
from tests.kit.configs import GRID
from tests.kit.feed import set_price
from tests.kit.poll import eventually, until_equal
from tests.kit.procs import BridgeProc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SYMBOL = "GRIDUSDT"
D = Decimal


def position_qty(client: redis_lib.Redis) -> Decimal:
    return D(client.hget(keys_for(SYMBOL).position, "qty") or "0")


def bridge_reconciles(client: redis_lib.Redis) -> list[int]:
    """The inbox seqs of the reconciles the bridge sent after a reconnect."""
    return [
        int(entry_id.split("-")[0])
        for entry_id, fields in client.xrange(keys_for(SYMBOL).inbox)
        if "bridge reconnect" in json.dumps(fields)
    ]


def sim_trade_ids(sim: BinanceSimControl) -> list[str]:
    rows = sim._http.get("/_sim/trades").json()
    return sorted(str(r["id"]) for r in rows)


def trading_at_100(exchange: Any) -> bool:
    """Wake the symbol (as beat's sweeper wakes one whose retry is due); return True once the
    grid of 100 rests (BUY 80 and 90)."""
    wake(app, SYMBOL)
    return resting(exchange, SYMBOL) == [("BUY", D(80)), ("BUY", D(90))]


def venue_ids(sim: BinanceSimControl) -> list[str]:
    """The client ids of the venue's open orders, sorted."""
    return sorted(o["clientOrderId"] for o in sim._http.get("/_sim/orders").json())


def slot_ids(client: redis_lib.Redis) -> list[str]:
    """The client ids the worker's slots hold, sorted."""
    slots = client.hgetall(keys_for(SYMBOL).slots).values()
    return sorted(c for v in slots if (c := json.loads(v)["client_order_id"]))


def test_a_user_socket_dropped_while_orders_fill_loses_no_fill(
    workers: Any,
    bridge: BridgeProc,
    exchange: Any,
    sim: BinanceSimControl,
    redis_client: redis_lib.Redis,
    ledger_url: str,
) -> None:
    # Arrange: long grid at 100 resting BUY 90, 80.
    workers([SYMBOL.lower()])
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    set_price(sim, redis_client, SYMBOL, "100")
    until_equal(lambda: resting(exchange, SYMBOL), [("BUY", D(80)), ("BUY", D(90))])

    # Act: the venue drops the user socket and holds its reconnect for a while. The connector
    # ends its streams, the bridge reconnects and its reconcile is done by the worker (the
    # cursor past it) while the socket is still down. Only then does the price trade through
    # both buys: fills nobody is told of, made after that reconcile, before the socket is back.
    k = keys_for(SYMBOL)
    last_reconcile = bridge_reconciles(redis_client)[-1:]
    sim.drop_user_streams(hold_s=6)
    seq = eventually(lambda: (r := bridge_reconciles(redis_client)) != last_reconcile and r[-1])
    until_equal(lambda: int(redis_client.hget(k.state, "last_seq") or 0) >= seq, True)
    assert sim.stats()["user_sockets"] == 0
    set_price(sim, redis_client, SYMBOL, "79")

    # Assert: both fills reach the worker and the ledger exactly once; the worker, the venue and
    # the ledger agree (long 2), and the grid goes on: closing SELL 90 and 100, BUY 70, 60.
    eventually(lambda: position_qty(redis_client) == 2, timeout_s=60)
    ids = sim_trade_ids(sim)
    assert len(ids) == 2
    eventually(lambda: sorted(str(r[0]) for r in ledger_rows(ledger_url, SYMBOL)) == ids, 60)
    assert exchange.positions(SYMBOL)[0].quantity == 2
    eventually(lambda: ("SELL", D(90)) in resting(exchange, SYMBOL), timeout_s=30)


def test_a_create_answered_5xx_after_the_venue_took_it_leaves_one_order_per_id(
    workers: Any,
    bridge: BridgeProc,
    exchange: Any,
    sim: BinanceSimControl,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: the venue will take the next two orders, then answer 503 (status unknown).
    workers([SYMBOL.lower()])
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    sim.faults(accept_then_fail=2, fail_status=503, fail_body="json")

    # Act: the grid places BUY 90 and 80 at 100.
    set_price(sim, redis_client, SYMBOL, "100")

    # Assert: exactly one order per client id at the venue, and the worker's slots hold them.
    until_equal(lambda: resting(exchange, SYMBOL), [("BUY", D(80)), ("BUY", D(90))], 30)
    ids = venue_ids(sim)
    assert len(ids) == len(set(ids)) == 2
    assert ids == slot_ids(redis_client)


def test_a_create_that_lands_after_the_worker_gave_up_is_found_and_not_placed_again(
    workers: Any,
    bridge: BridgeProc,
    exchange: Any,
    sim: BinanceSimControl,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: the worker waits 1 s for the connector; the venue will act on the next new
    # order only 6 s after it arrives (armed before the symbol exists, as in the 429 test).
    sim.faults(delay_next=[{"path": "/fapi/v1/order", "method": "POST", "ms": 6000}])
    workers([SYMBOL.lower()], env={"CONNECTOR_TIMEOUT_S": "1"})
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)

    # Act: the grid wants BUY 90 and 80 at 100. Its first create times out for the worker
    # (outcome unknown: the batch stops, the symbol backs off) while the connector still sends
    # it; the retries ask the venue for it by client id before it lands, then after.
    set_price(sim, redis_client, SYMBOL, "100")

    # Assert: the late order was taken as the level's order, not placed again beside it: two
    # creates reached the venue in all (the late one, and the level never sent), one order per
    # level and client id, the ids the worker's slots hold.
    eventually(lambda: trading_at_100(exchange), timeout_s=60, interval_s=0.5)
    assert sim.stats()["requests_by_path"]["POST /fapi/v1/order"] == 2
    assert venue_ids(sim) == slot_ids(redis_client)


def test_a_429_with_retry_after_degrades_for_that_long_then_trades_by_itself(
    workers: Any,
    bridge: BridgeProc,
    exchange: Any,
    sim: BinanceSimControl,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: the venue's next new order answers 429, Retry-After 3. Armed before the symbol
    # exists: the simulator starts its symbols at a price (100), so the symbol's first step
    # may place its orders before a fault armed later.
    sim.faults(
        error_next=[
            {
                "path": "/fapi/v1/order",
                "method": "POST",  # a new order: not a query or a cancel of one
                "status": 429,
                "code": -1003,
                "msg": "Too many requests.",
                "retry_after": 3,
            }
        ]
    )
    workers([SYMBOL.lower()])
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)

    # Act: the grid wants BUY 90 and 80 at 100.
    set_price(sim, redis_client, SYMBOL, "100")

    # Assert: DEGRADED, its retry no sooner than the venue said; then, woken as beat's sweeper
    # would wake it, trading again with the grid of 100.
    k = keys_for(SYMBOL)
    state = eventually(
        lambda: (s := redis_client.hgetall(k.state)).get("degraded_since_ms") and s, timeout_s=30
    )
    assert "rate limit" in state["last_error"]
    assert int(state["retry_at_ms"]) - int(state["degraded_since_ms"]) >= 3000

    eventually(lambda: trading_at_100(exchange), timeout_s=60, interval_s=0.5)
    eventually(lambda: not redis_client.hget(k.state, "degraded_since_ms"), timeout_s=30)


@pytest.mark.parametrize("connector_env", [{"MMTASKS_VENUE_API_SECRET": "not-the-secret"}])
def test_refused_keys_stop_the_symbol_with_the_fix_named_and_no_retry_storm(
    connector_env: dict[str, str],
    workers: Any,
    bridge: BridgeProc,
    exchange: Any,
    sim: BinanceSimControl,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange + Act: a symbol starts on a connector whose secret the venue refuses.
    workers([SYMBOL.lower()])
    init_symbol(redis_client, app, exchange, SYMBOL, GRID)
    set_price(sim, redis_client, SYMBOL, "100")

    # Assert: ERROR, saying what is wrong and what to check; nothing was placed.
    k = keys_for(SYMBOL)
    state = eventually(
        lambda: (s := redis_client.hgetall(k.state)).get("status") == "ERROR" and s, timeout_s=60
    )
    assert "refused the API key" in state["last_error"]
    assert "MMTASKS_VENUE_API_SECRET" in state["last_error"]
    placed = sim.stats()["requests_by_path"].get("POST /fapi/v1/order", 0)
    # More prices: an ERROR symbol places nothing, so no request storm reaches the venue.
    for price in ("101", "99", "100"):
        set_price(sim, redis_client, SYMBOL, price)
    eventually(
        lambda: (
            not redis_client.exists(k.price_pending, k.lock)
            and redis_client.llen(SYMBOL.lower()) == 0
        ),
        timeout_s=30,
    )
    assert sim.stats()["requests_by_path"].get("POST /fapi/v1/order", 0) == placed
    assert sim._http.get("/_sim/orders").json() == []

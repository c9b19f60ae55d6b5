"""Crashes, offline fills and poison on real worker processes: what only a real worker proves.

Duplicated and reordered events are tested on the step in process (tests/step).
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
from tests.integration.conftest import GRID, SYMBOLS, ledger_rows, resting
from tests.integration.test_trading_flow import position_qty
from tests.kit.feed import OrderPump, set_price
from tests.kit.poll import eventually

D = Decimal
A, B = SYMBOLS


def slots(client: redis_lib.Redis, symbol: str) -> dict[str, dict[str, Any]]:
    return {k: json.loads(v) for k, v in client.hgetall(keys_for(symbol).slots).items()}


def settled(client: redis_lib.Redis, symbol: str) -> bool:
    """Return True when no slot waits for an exchange answer and the inbox is drained."""
    k = keys_for(symbol)
    no_pending = all(s.get("status") != "PENDING" for s in slots(client, symbol).values())
    cursor = int(client.hget(k.state, "last_seq") or 0)
    return no_pending and cursor == int(client.get(k.seq) or 0)


@pytest.mark.parametrize("crash_at", ["after_intent", "after_send"])
def test_worker_killed_between_intent_and_ack_leaves_one_order_per_client_id(
    crash_at: str,
    workers: Any,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: a worker that SIGKILLs itself (and its pool parent) at the crash point.
    doomed = workers([A.lower()], env={"MMTASKS_CRASH_AT": crash_at}, name="doomed")
    init_symbol(redis_client, app, exchange, A, GRID)

    # Act: the first price makes it write intents, then die.
    set_price(sim, redis_client, A, "100")
    eventually(lambda: doomed.proc.poll() is not None, timeout_s=30)
    pending = [s for s in slots(redis_client, A).values() if s.get("status") == "PENDING"]
    assert pending, "the crash must leave intents behind"
    workers([A.lower()], name="restarted")

    # Assert: after restart and reconcile, the grid is exactly BUY 90, 80, one order per id.
    eventually(lambda: resting(exchange, A) == [("BUY", D(80)), ("BUY", D(90))], timeout_s=40)
    eventually(lambda: settled(redis_client, A))
    orders = exchange.open_orders(A)
    assert len({o.client_order_id for o in orders}) == len(orders) == 2
    locked = {
        s["client_order_id"]: s
        for s in slots(redis_client, A).values()
        if s.get("status") == "LOCKED"
    }
    assert {o.client_order_id: o.order_id for o in orders} == {
        cid: s["venue_order_id"] for cid, s in locked.items()
    }


def test_fill_while_worker_and_bridge_are_down_is_applied_once_after_restart(
    workers: Any,
    exchange_addr: str,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    redis_url: str,
    ledger_url: str,
) -> None:
    # Arrange: grid resting at 90 and 80.
    pump = OrderPump(exchange_addr, redis_url, set(SYMBOLS))
    first = workers([A.lower()], name="first")
    init_symbol(redis_client, app, exchange, A, GRID)
    set_price(sim, redis_client, A, "100")
    eventually(lambda: resting(exchange, A) == [("BUY", D(80)), ("BUY", D(90))])
    eventually(lambda: settled(redis_client, A))

    # Act: worker and bridge die; the price trades through 90 at the exchange meanwhile.
    pump.close()
    first.kill()
    sim.inject_price(A, "89")
    assert position_qty(redis_client, A) == 0
    workers([A.lower()], name="second")

    # Assert: the reconcile at start applies the fill once and places the closing sell.
    eventually(lambda: position_qty(redis_client, A) == 1, timeout_s=40)
    eventually(lambda: ("SELL", D(100)) in resting(exchange, A))
    wake(app, A)
    eventually(lambda: settled(redis_client, A))
    assert position_qty(redis_client, A) == 1
    rows = eventually(lambda: ledger_rows(ledger_url, A))
    assert [(r[1], r[2], r[3]) for r in rows] == [("BUY", D(90), D(1))]


def test_poisoned_symbol_goes_to_error_while_the_other_keeps_trading(
    workers: Any,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: two symbols, two workers, both trading.
    workers([A.lower()], name="a")
    workers([B.lower()], name="b")
    init_symbol(redis_client, app, exchange, A, GRID)
    init_symbol(redis_client, app, exchange, B, GRID)
    for symbol in (A, B):
        set_price(sim, redis_client, symbol, "100")
    for symbol in (A, B):
        eventually(lambda s=symbol: resting(exchange, s) == [("BUY", D(80)), ("BUY", D(90))])

    # Act: B's state is corrupted (poison in its step); both keep receiving prices.
    redis_client.hset(keys_for(B).slots, "70", "{not json")
    for price in ("89", "95"):
        for symbol in (A, B):
            set_price(sim, redis_client, symbol, price)
            wake(app, symbol)

    # Assert: B is in ERROR with its reason; A filled and placed its closing sell.
    eventually(lambda: redis_client.hget(keys_for(B).state, "status") == "ERROR", timeout_s=30)
    assert redis_client.hget(keys_for(B).state, "last_error")
    eventually(lambda: ("SELL", D(100)) in resting(exchange, A))
    assert position_qty(redis_client, A) == 1
    assert redis_client.hget(keys_for(A).state, "status") == "ACTIVE"

"""Admin calls on a trading fleet: real connector, control worker and symbol workers.

These depend on the worker-side trading core (mmtasks.trading) as well as on the admin tasks.
Prices come from the test (the simulated feed is off); `OrderPump` stands in for the bridge's
order path, so fills reach the symbols' inboxes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from mmtasks.celery import app
from mmtasks.ledger import summarize
from mmtasks.state.keys import SYMBOLS, keys_for
from mmtasks.state.retention import tag_keys
from tests.admin.conftest import GRID, LISTED, Fleet, audit, registry, resting
from tests.kit.feed import OrderPump, set_price
from tests.kit.poll import eventually
from tests.kit.procs import Worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

D = Decimal
A, B, C = LISTED[:3]
FULL_GRID = [("BUY", D(80)), ("BUY", D(90))]  # GRID at price 100: two buys, 10 apart


@pytest.fixture
def pump(fleet: Fleet) -> Iterator[OrderPump]:
    p = OrderPump(fleet.addr, fleet.env["REDIS_URL"], set(LISTED))
    yield p
    p.close()


def state(fleet: Fleet, symbol: str) -> dict[str, str]:
    return fleet.redis.hgetall(keys_for(symbol).state)


def exchange_qty(exchange: Any, symbol: str) -> Decimal:
    positions = [p for p in exchange.positions(symbol) if p.symbol == symbol]
    return positions[0].quantity if positions else D(0)


def local_orders(fleet: Fleet, symbol: str) -> set[str]:
    """Return the client ids of the orders Redis believes rest for symbol."""
    slots = [json.loads(v) for v in fleet.redis.hvals(keys_for(symbol).slots)]
    return {s["client_order_id"] for s in slots if s["status"] == "LOCKED"}


def venue_orders(exchange: Any, symbol: str) -> set[str]:
    """Return the client ids of the symbol's open orders at the exchange."""
    return {o.client_order_id for o in exchange.open_orders(symbol)}


def add(fleet: Fleet, symbol: str, **kwargs: Any) -> dict[str, Any]:
    result = fleet.admin.call("add_symbol", symbol=symbol, strategy=GRID, **kwargs)
    assert result["ok"], result
    return result


def a_trading(fleet: Fleet, exchange: Any, sim: Any) -> None:
    """A on a worker of its own, its grid resting at 100."""
    fleet.start([A.lower()], "a")
    add(fleet, A)
    set_price(sim, fleet.redis, A, "100")
    eventually(lambda: resting(exchange, A) == FULL_GRID, timeout_s=30)


def test_a_third_symbol_added_while_two_trade_trades_without_restarts(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    # Arrange: A and B trade on their own workers; a spare worker waits for a queue.
    workers = [
        fleet.start([A.lower()], "a"),
        fleet.start([B.lower()], "b"),
        fleet.start(["spare"], "spare"),
    ]
    pids = [w.proc.pid for w in workers]
    for symbol in (A, B):
        add(fleet, symbol)
        set_price(sim, fleet.redis, symbol, "100")
        eventually(lambda s=symbol: resting(exchange, s) == FULL_GRID, timeout_s=30)

    # Act: add C and attach its queue to the spare worker, then give C a price.
    result = add(fleet, C, consumer=workers[2].name)
    set_price(sim, fleet.redis, C, "100")

    # Assert: C quotes its grid; A and B kept theirs; nothing restarted.
    assert result["consumer"] == workers[2].name
    eventually(lambda: resting(exchange, C) == FULL_GRID, timeout_s=30)
    assert resting(exchange, A) == FULL_GRID and resting(exchange, B) == FULL_GRID
    assert [w.proc.pid for w in workers] == pids and all(w.proc.poll() is None for w in workers)
    status = fleet.admin.call("status", symbol=C)
    assert status["symbols"][0]["consumers"] == [workers[2].name]


def test_pause_leaves_no_resting_orders_and_resume_brings_the_grid_back(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    a_trading(fleet, exchange, sim)

    paused = fleet.admin.call("pause_symbol", symbol=A)
    eventually(lambda: resting(exchange, A) == [], timeout_s=30)
    assert paused["ok"] and state(fleet, A)["status"] == "PAUSED"
    stepped = state(fleet, A)["last_step_ms"]
    set_price(sim, fleet.redis, A, "100")  # a price while paused places nothing
    eventually(lambda: state(fleet, A)["last_step_ms"] != stepped, timeout_s=30)
    assert resting(exchange, A) == []

    resumed = fleet.admin.call("resume_symbol", symbol=A)
    eventually(lambda: resting(exchange, A) == FULL_GRID, timeout_s=30)
    assert resumed["ok"] and state(fleet, A)["status"] == "ACTIVE"


def test_fleet_halt_cancels_every_order_and_resume_restores_them(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    fleet.start([A.lower(), B.lower()], "ab")
    for symbol in (A, B):
        add(fleet, symbol)
        set_price(sim, fleet.redis, symbol, "100")
    eventually(lambda: resting(exchange, A) == resting(exchange, B) == FULL_GRID, timeout_s=30)

    assert fleet.admin.call("halt", reason="drill")["ok"]
    eventually(lambda: resting(exchange, A) == resting(exchange, B) == [], timeout_s=30)
    assert fleet.admin.call("resume")["ok"]

    eventually(lambda: resting(exchange, A) == resting(exchange, B) == FULL_GRID, timeout_s=30)


def test_remove_with_an_open_position_is_refused_and_a_forced_remove_cancels_orders(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    # Arrange: A buys one at 90, so it holds a position and rests a sell at 100 and buys below.
    a_trading(fleet, exchange, sim)
    set_price(sim, fleet.redis, A, "89")
    eventually(lambda: exchange_qty(exchange, A) == 1, timeout_s=30)
    set_price(sim, fleet.redis, A, "95")
    eventually(lambda: ("SELL", D(100)) in resting(exchange, A), timeout_s=30)

    # Act + Assert: refused, nothing changed.
    refused = fleet.admin.call("remove_symbol", symbol=A)
    assert refused["ok"] is False
    assert f"symbol {A} has an open position of 1" in refused["error"]
    assert registry(fleet.pg_url)[A] == ("ACTIVE", 1)
    assert resting(exchange, A) != []

    # Act + Assert: forced, every order of A is cancelled; the row and its history stay.
    forced = fleet.admin.call("remove_symbol", symbol=A, force=True)
    assert forced["ok"] and forced["position_left"] == "1"
    eventually(lambda: resting(exchange, A) == [], timeout_s=30)
    assert registry(fleet.pg_url)[A] == ("REMOVED", 1)
    assert [a for a, _ in audit(fleet.pg_url, A)] == ["add_symbol", "remove_symbol"]
    assert state(fleet, A)["status"] == "REMOVED"
    assert exchange_qty(exchange, A) == 1  # the position is the operator's to close

    # Act + Assert: once its worker has taken A out of the fleet (nothing rests) and past its
    # grace period (0 s in this fleet), the retention sweep leaves no key of A's tag; the
    # ledger keeps A's history.
    eventually(lambda: not fleet.redis.sismember(SYMBOLS, A), timeout_s=30)
    assert tag_keys(fleet.redis, A) != []
    app.send_task("mmtasks.beat.keep_bounded", queue="control")
    eventually(lambda: tag_keys(fleet.redis, A) == [], timeout_s=30)
    with psycopg.connect(fleet.pg_url) as conn:
        assert summarize(conn, A).position == 1


def test_full_restart_on_an_empty_redis_brings_symbols_statuses_and_positions_back(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    # Arrange: A trades and holds a position, B is paused.
    fleet.start([A.lower(), B.lower()], "ab")
    add(fleet, A)
    add(fleet, B)
    set_price(sim, fleet.redis, A, "100")
    set_price(sim, fleet.redis, B, "100")
    eventually(lambda: resting(exchange, A) == resting(exchange, B) == FULL_GRID, timeout_s=30)
    assert fleet.admin.call("pause_symbol", symbol=B)["ok"]
    set_price(sim, fleet.redis, A, "89")
    eventually(lambda: exchange_qty(exchange, A) == 1, timeout_s=30)
    eventually(
        lambda: state(fleet, B).get("status") == "PAUSED" and resting(exchange, B) == [],
        timeout_s=30,
    )
    # GRID.md "long 100 -> 89": BUY 80, 70 and the closing SELL 100 rest once the step is done.
    orders_before = [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]
    eventually(
        lambda: (
            fleet.redis.hget(keys_for(A).position, "qty") == "1"
            and resting(exchange, A) == orders_before
        ),
        timeout_s=30,
    )

    # Act: stop every worker, lose Redis, start the fleet again.
    fleet.stop_all()
    fleet.redis.flushdb()
    fleet.start(["control"], "control")
    fleet.start([A.lower(), B.lower()], "ab")
    set_price(sim, fleet.redis, A, "89")  # the bridge streams prices again after a restart

    # Assert: statuses and positions equal the registry's and the exchange's.
    eventually(
        lambda: (
            state(fleet, A).get("status") == "ACTIVE" and state(fleet, B).get("status") == "PAUSED"
        ),
        timeout_s=60,
    )
    eventually(
        lambda: (
            D(fleet.redis.hget(keys_for(A).position, "qty") or "0")
            == exchange_qty(exchange, A)
            == 1
        ),
        timeout_s=60,
    )
    assert fleet.redis.smembers(SYMBOLS) == {A, B}
    assert resting(exchange, B) == []
    eventually(lambda: local_orders(fleet, A) == venue_orders(exchange, A), timeout_s=30)
    status = fleet.admin.call("status")
    entries = {s["symbol"]: s for s in status["symbols"]}
    assert entries[A]["state"] == "ACTIVE" and entries[B]["state"] == "PAUSED"
    assert entries[A]["position"]["qty"] == "1"
    # The adopted grid stays the grid: no second set of orders anchored at the new price.
    eventually(lambda: resting(exchange, A) == orders_before, timeout_s=30)


def test_worker_for_a_new_queue_started_later_also_works(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    # Adding first and starting the symbol's worker afterwards is the other supported order.
    add(fleet, C)
    worker: Worker = fleet.start([C.lower()], "c")
    set_price(sim, fleet.redis, C, "100")

    eventually(lambda: resting(exchange, C) == FULL_GRID, timeout_s=30)
    assert worker.proc.poll() is None


def test_resume_symbol_brings_a_symbol_back_from_error(
    fleet: Fleet, exchange: Any, sim: Any, pump: OrderPump
) -> None:
    # Arrange: A quotes, then ends in ERROR (as after repeated failed steps) with no orders.
    a_trading(fleet, exchange, sim)
    assert fleet.admin.call("pause_symbol", symbol=A)["ok"]
    eventually(lambda: resting(exchange, A) == [], timeout_s=30)
    fleet.redis.hset(keys_for(A).state, mapping={"status": "ERROR", "last_error": "drill"})

    # Act
    resumed = fleet.admin.call("resume_symbol", symbol=A)

    # Assert: the worker applies the resume despite ERROR, reconciles and quotes again.
    assert resumed["ok"]
    eventually(lambda: state(fleet, A)["status"] == "ACTIVE", timeout_s=30)
    eventually(lambda: resting(exchange, A) == FULL_GRID, timeout_s=30)


def test_a_removal_during_a_connector_blip_cancels_its_orders_once_the_connector_answers(
    fleet: Fleet,
    exchange: Any,
    sim: Any,
    pump: OrderPump,
) -> None:
    # Arrange: A rests its grid; the connector's next cancel fails (a blip).
    a_trading(fleet, exchange, sim)
    sim.fail_next_calls(1, "UNAVAILABLE", method="CancelOrder")

    # Act 1: removed; its worker's cancel fails, so it backs off.
    assert fleet.admin.call("remove_symbol", symbol=A)["ok"]
    eventually(lambda: state(fleet, A).get("retry_count") == "1", timeout_s=30)

    # Assert 1: the registry says REMOVED, but A stays in the fleet while its orders rest.
    assert registry(fleet.pg_url)[A] == ("REMOVED", 1)
    assert state(fleet, A)["status"] == "REMOVED"
    assert fleet.redis.sismember(SYMBOLS, A)
    assert resting(exchange, A) == FULL_GRID
    [entry] = fleet.admin.call("status", symbol=A)["symbols"]
    assert entry["draining"] and not entry["healthy"]

    # Act 2: beat's healer runs every 2 s (no beat in this fleet: the test sends it) and wakes
    # A once its retry is due (tests/step/test_removal.py shows that part in process).
    def healed() -> bool:
        app.send_task("mmtasks.beat.heal_fleet", queue="control")
        return resting(exchange, A) == []

    # Assert 2: every order of A is cancelled, and only then A leaves the fleet.
    eventually(healed, timeout_s=30, interval_s=2)
    eventually(lambda: not fleet.redis.sismember(SYMBOLS, A), timeout_s=30)
    assert state(fleet, A)["status"] == "REMOVED"
    assert local_orders(fleet, A) == set()

"""The bridge between the real simulated connector and Redis (no workers yet)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.state.keys import keys_for
from tests.bridge.conftest import inbox, queued_tasks, wait_connected
from tests.kit.poll import eventually
from tests.kit.procs import connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
A, B = "AAAUSDT", "BBBUSDT"


@pytest.fixture
def quiet_exchange() -> Iterator[tuple[str, Any, Any]]:
    """Run the connector without a feed; yield (addr, exchange client, sim control client)."""
    from mmtasks.connector.client import ExchangeClient
    from mmtasks.connector.sim_client import SimControlClient

    with connector("--feed", "none", "--symbols", f"{A},{B}") as addr:
        exchange, sim = ExchangeClient(addr), SimControlClient(addr)
        yield addr, exchange, sim
        exchange.close()
        sim.close()


def price_tasks(client: redis_lib.Redis, symbol: str) -> int:
    return sum(
        name == "mmtasks.symbol.on_price" for name, _ in queued_tasks(client, symbol.lower())
    )


def test_random_walk_prices_arrive_conflated_with_at_most_one_pending_price_task(
    start_bridge: Any, redis_client: redis_lib.Redis
) -> None:
    with connector("--feed", "random", "--tick-ms", "5", "--symbols", f"{A},{B}") as addr:
        start_bridge(addr, "--symbols", f"{A},{B}")
        first = {
            s: int(eventually(lambda s=s: redis_client.hget(keys_for(s).tick, "seq")))
            for s in (A, B)
        }

        for symbol in (A, B):  # hundreds of ticks later ...
            eventually(
                lambda s=symbol: (
                    int(redis_client.hget(keys_for(s).tick, "seq") or 0) > first[s] + 200
                )
            )
            # ... no worker runs, so the first price task is still the only one queued.
            assert price_tasks(redis_client, symbol) == 1
        tick = redis_client.hgetall(keys_for(A).tick)
        assert Decimal(tick["price"]) > 0 and int(tick["ts_event_ms"]) > time.time() * 1000 - 60_000


def test_fills_from_sim_control_land_in_the_inbox_in_order_with_increasing_seq(
    start_bridge: Any, redis_client: redis_lib.Redis, quiet_exchange: tuple[str, Any, Any]
) -> None:
    addr, exchange, sim = quiet_exchange
    start_bridge(addr, "--symbols", f"{A},{B}")
    wait_connected(redis_client)

    placed, _ = exchange.place_order(A, "BUY", "90", "3", "bt1")
    sim.fill_order(A, order_id=placed.order_id, quantity="1")
    sim.fill_order(A, order_id=placed.order_id, quantity="1")
    sim.fill_order(A, order_id=placed.order_id)  # the remainder
    other, _ = exchange.place_order(B, "SELL", "110", "1", "bt2")
    exchange.cancel_order(B, order_id=other.order_id)

    entries = eventually(lambda: (e := inbox(redis_client, A)) and len(e) == 4 and e)
    assert [seq for seq, _ in entries] == [1, 2, 3, 4]
    assert [(e["status"], e["executed_qty"]) for _, e in entries] == [
        ("NEW", "0"),
        ("PARTIALLY_FILLED", "1"),
        ("PARTIALLY_FILLED", "2"),
        ("FILLED", "3"),
    ]
    trade_ids = [e["trade"]["trade_id"] for _, e in entries[1:]]
    assert len(set(trade_ids)) == 3
    statuses_b = eventually(
        lambda: (e := inbox(redis_client, B)) and len(e) == 2 and [x["status"] for _, x in e]
    )
    assert statuses_b == ["NEW", "CANCELED"]
    # Something queued drains A's inbox: an on_order wake, or the price task of the tick the
    # connector sends on subscribe (it covers the wake, see bridge/writer.py).
    drains = [("mmtasks.symbol.on_order", [A]), ("mmtasks.symbol.on_price", [A])]
    eventually(lambda: any(task in drains for task in queued_tasks(redis_client, A.lower())))


def test_candles_of_the_feed_land_in_the_inbox(
    start_bridge: Any, redis_client: redis_lib.Redis
) -> None:
    with connector("--feed", "random", "--tick-ms", "20", "--symbols", A) as addr:
        start_bridge(addr, "--symbols", A, "--kline-interval", "1s")

        entries = eventually(
            lambda: [e for _, e in inbox(redis_client, A) if e["closed"]], timeout_s=15
        )

    assert entries[0]["kind"] == "candle" and entries[0]["interval"] == "1s"
    assert Decimal(entries[0]["low"]) <= Decimal(entries[0]["close"]) <= Decimal(entries[0]["high"])
    # Woken by its own task, or drained by the price task already queued (no worker runs).
    drains = {"mmtasks.symbol.on_candle", "mmtasks.symbol.on_price"}
    eventually(lambda: {name for name, _ in queued_tasks(redis_client, A.lower())} & drains)


def test_a_restarted_bridge_continues_the_seq_and_writes_each_fill_once(
    start_bridge: Any, redis_client: redis_lib.Redis, quiet_exchange: tuple[str, Any, Any]
) -> None:
    addr, exchange, sim = quiet_exchange
    first = start_bridge(addr, "--symbols", A)
    wait_connected(redis_client)
    order, _ = exchange.place_order(A, "BUY", "90", "2", "rs1")
    sim.fill_order(A, order_id=order.order_id, quantity="1")
    eventually(lambda: len(inbox(redis_client, A)) == 2)
    assert first.stop() == 0

    start_bridge(addr, "--symbols", A)
    wait_connected(redis_client)
    sim.fill_order(A, order_id=order.order_id)

    entries = eventually(lambda: (e := inbox(redis_client, A)) and len(e) == 3 and e)
    assert [seq for seq, _ in entries] == [1, 2, 3]
    assert [e["executed_qty"] for _, e in entries] == ["0", "1", "2"]
    trades = [e["trade"]["trade_id"] for _, e in entries if e["trade"]]
    assert len(trades) == len(set(trades)) == 2


def test_a_connector_restart_is_ridden_out_with_a_reconcile_for_every_symbol(
    start_bridge: Any, redis_client: redis_lib.Redis
) -> None:
    def reconciles(symbol: str) -> list[Any]:
        return [
            args[1]
            for name, args in queued_tasks(redis_client, symbol.lower())
            if name == "mmtasks.symbol.reconcile"
        ]

    with connector("--feed", "random", "--tick-ms", "50", "--symbols", f"{A},{B}") as addr:
        start_bridge(addr, "--symbols", f"{A},{B}")
        wait_connected(redis_client)
        eventually(lambda: reconciles(A) == ["bridge start"])
    # The connector is gone; the bridge keeps trying.
    eventually(lambda: redis_client.hget("mm:bridge:heartbeat", "state") == "reconnecting")
    port = addr.rsplit(":", 1)[1]

    with connector("--feed", "random", "--tick-ms", "50", "--symbols", f"{A},{B}", "--port", port):
        for symbol in (A, B):
            eventually(
                lambda s=symbol: reconciles(s) == ["bridge start", "bridge reconnect"], timeout_s=20
            )
        seq = int(redis_client.hget(keys_for(A).tick, "seq") or 0)
        eventually(lambda: int(redis_client.hget(keys_for(A).tick, "seq") or 0) != seq)


def test_the_bridge_authenticates_with_the_connector_token(
    start_bridge: Any, redis_client: redis_lib.Redis
) -> None:
    with connector(
        "--feed", "random", "--tick-ms", "20", "--symbols", A, "--token", "s3cret"
    ) as addr:
        start_bridge(addr, "--symbols", A, env={"CONNECTOR_TOKEN": "s3cret"})

        eventually(lambda: redis_client.hget(keys_for(A).tick, "seq"))
    assert redis_client.hget("mm:bridge:rejects", "unknown_symbol") is None

"""Which symbols the bridge streams (registry, Redis set) and how it rides out reconnects."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.registry.migrate import migrate
from mmtasks.state.keys import BRIDGE_REJECTS, SYMBOLS, keys_for
from tests.bridge.conftest import inbox, queued_tasks, wait_connected
from tests.bridge.fake_connector import FakeConnector, order_update, tick
from tests.kit.poll import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
A, B, C = "AAAUSDT", "BBBUSDT", "CCCUSDT"


def subscribed(fake: FakeConnector) -> set[str]:
    """Return the symbols of the newest open price subscription."""
    return set(fake.prices.requests[-1].symbols) if fake.prices.requests else set()


def reconciles(client: redis_lib.Redis, symbol: str) -> list[list[Any]]:
    return [
        args
        for name, args in queued_tasks(client, symbol.lower())
        if name == "mmtasks.symbol.reconcile"
    ]


def set_status(url: str, symbol: str, status: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO symbol_registry (symbol, strategy_config, status) VALUES (%s, '{}', %s)"
            " ON CONFLICT (symbol) DO UPDATE SET status = EXCLUDED.status",
            (symbol, status),
        )


def test_registry_changes_subscribe_and_drop_symbols_without_a_restart(
    start_bridge: Any, fake: FakeConnector, redis_client: redis_lib.Redis, pg_url: str
) -> None:
    migrate(pg_url)
    set_status(pg_url, A, "ACTIVE")
    set_status(pg_url, C, "REMOVED")
    redis_client.sadd(SYMBOLS, "IGNOREDUSDT")  # the registry wins once it exists
    start_bridge(fake.addr, "--resync-s", "30")  # NOTIFY, not the resync, must do it
    wait_connected(redis_client)
    eventually(lambda: subscribed(fake) == {A})

    set_status(pg_url, B, "PAUSED")  # paused symbols still settle fills
    eventually(lambda: subscribed(fake) == {A, B}, timeout_s=10)
    eventually(lambda: reconciles(redis_client, B) == [[B, "bridge subscribe"]])

    set_status(pg_url, A, "REMOVED")
    eventually(lambda: subscribed(fake) == {B}, timeout_s=10)
    ts = int(time.time() * 1000)
    fake.orders.push(order_update(A, "late", ts_ms=ts), order_update(B, "kept", ts_ms=ts))
    eventually(lambda: len(inbox(redis_client, B)) == 1)
    assert inbox(redis_client, A) == []
    assert redis_client.hget(BRIDGE_REJECTS, "unknown_symbol") == "1"


def test_a_removed_symbol_is_streamed_until_its_worker_takes_it_out_of_the_fleet(
    start_bridge: Any, fake: FakeConnector, redis_client: redis_lib.Redis, pg_url: str
) -> None:
    # Arrange: A and B trade.
    migrate(pg_url)
    for symbol in (A, B):
        set_status(pg_url, symbol, "ACTIVE")
    redis_client.sadd(SYMBOLS, A, B)
    start_bridge(fake.addr, "--resync-s", "1")
    wait_connected(redis_client)
    eventually(lambda: subscribed(fake) == {A, B})

    # Act 1: A is removed in the registry, then C added: once C is streamed, the bridge has
    # read the registry after A's removal. A's worker has not cancelled its orders yet (A is
    # still in the fleet set), and a fill of A arrives.
    set_status(pg_url, A, "REMOVED")
    set_status(pg_url, C, "ACTIVE")
    eventually(lambda: C in subscribed(fake), timeout_s=10)
    fake.orders.push(order_update(A, "raced", ts_ms=int(time.time() * 1000)))

    # Assert 1: A is still streamed; its fill reaches its inbox.
    assert subscribed(fake) == {A, B, C}
    eventually(lambda: len(inbox(redis_client, A)) == 1)

    # Act + Assert 2: its worker takes A out of the fleet set (nothing of it rests): the next
    # resync (no notification says so) stops streaming it.
    redis_client.srem(SYMBOLS, A)
    eventually(lambda: subscribed(fake) == {B, C}, timeout_s=10)


def test_without_a_registry_the_redis_set_is_followed_at_run_time(
    start_bridge: Any, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    redis_client.sadd(SYMBOLS, A)
    start_bridge(fake.addr, "--config", "")
    wait_connected(redis_client)
    eventually(lambda: subscribed(fake) == {A})

    redis_client.sadd(SYMBOLS, B)
    eventually(lambda: subscribed(fake) == {A, B})
    redis_client.srem(SYMBOLS, A)
    eventually(lambda: subscribed(fake) == {B})

    assert fake.orders.open_count == 1  # the order stream was never reopened


def test_dropped_streams_reconnect_and_reconcile_every_symbol(
    start_bridge: Any, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    start_bridge(fake.addr, "--symbols", f"{A},{B}")
    wait_connected(redis_client)
    eventually(lambda: reconciles(redis_client, A) == [[A, "bridge start"]])

    assert fake.drop_streams() == 3

    for symbol in (A, B):
        eventually(
            lambda s=symbol: (
                reconciles(redis_client, s) == [[s, "bridge start"], [s, "bridge reconnect"]]
            )
        )
    ts = int(time.time() * 1000)
    eventually(fake.streams_open)
    fake.orders.push(order_update(A, "after", ts_ms=ts))
    eventually(lambda: [e["order_id"] for _, e in inbox(redis_client, A)] == ["after"])


def test_a_connector_that_comes_back_on_its_address_is_found_again(
    start_bridge: Any, redis_client: redis_lib.Redis
) -> None:
    first = FakeConnector()
    port = first.port
    try:
        start_bridge(first.addr, "--symbols", A)
        wait_connected(redis_client)
    finally:
        first.stop()
    eventually(lambda: redis_client.hget("mm:bridge:heartbeat", "state") == "reconnecting")

    second = FakeConnector(port)
    try:
        eventually(second.streams_open, timeout_s=20)
        eventually(lambda: len(reconciles(redis_client, A)) == 2, timeout_s=10)
        second.prices.push(tick(A, "7", int(time.time() * 1000), 1))
        eventually(lambda: redis_client.hget(keys_for(A).tick, "price") == "7")
    finally:
        second.stop()

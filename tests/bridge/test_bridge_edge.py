"""The bridge as a real process against a fake connector that sends what the test says."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from mmtasks.pb.mm.v1 import exchange_pb2 as pb
from mmtasks.state.keys import BRIDGE_HEARTBEAT, BRIDGE_REJECTS, keys_for
from tests.bridge.conftest import inbox, queued_tasks, wait_connected
from tests.bridge.fake_connector import FakeConnector, kline, order_update, tick
from tests.kit.poll import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
A, B = "AAAUSDT", "BBBUSDT"


def now_ms() -> int:
    return int(time.time() * 1000)


def started(start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis) -> object:
    bridge = start_bridge(fake.addr, "--symbols", f"{A},{B}")  # type: ignore[operator]
    wait_connected(redis_client)
    eventually(fake.streams_open)
    return bridge


def test_a_price_batch_writes_each_symbols_newest_valid_tick_and_counts_every_bad_one(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    started(start_bridge, fake, redis_client)
    ts = now_ms()

    fake.prices.push(  # one push: the fake sends these as one PriceTicks message
        tick(A, "100", ts, 1),
        tick(A, "abc", ts, 2),  # bad_decimal
        tick(B, "50", ts, 1),
        tick(A, "101", ts, 3),
        tick(B, "-1", ts, 2),  # bad_decimal
    )

    eventually(lambda: redis_client.hget(keys_for(A).tick, "seq") == "3")
    eventually(lambda: redis_client.hget(keys_for(B).tick, "seq") == "1")
    assert redis_client.hget(keys_for(A).tick, "price") == "101"
    eventually(lambda: redis_client.hgetall(BRIDGE_REJECTS) == {"bad_decimal": "2"})
    assert fake.prices.batched_requests >= 1


def test_bad_messages_are_counted_per_reason_never_enqueued_and_the_run_goes_on(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    bridge = started(start_bridge, fake, redis_client)
    ts = now_ms()

    fake.prices.push(
        tick(A, "12.3.4", ts, 1),  # bad_decimal
        tick(A, "NaN", ts, 2),  # bad_decimal
        tick(A, "-5", ts, 3),  # bad_decimal (must be > 0)
        tick("ZZZUSDT", "10", ts, 4),  # unknown_symbol
        tick(A, "10", 5, 5),  # bad_timestamp
    )
    fake.orders.push(
        order_update(A, "o1", side=pb.SIDE_UNSPECIFIED, ts_ms=ts),  # unspecified_enum
        order_update(A, "o2", status=pb.ORDER_STATUS_UNSPECIFIED, ts_ms=ts),  # unspecified_enum
        order_update(A, "o3", quantity="1e", ts_ms=ts),  # bad_decimal
        order_update(A, "x" * 20_000, ts_ms=ts),  # oversized
        order_update("ZZZUSDT", "o5", ts_ms=ts),  # unknown_symbol
    )
    fake.klines.push(kline(A, ts - ts % 60_000, "abc"))  # bad_decimal
    # Good messages after the bad ones: they arrive, so the bridge kept going.
    fake.prices.push(tick(A, "101.5", ts, 6))
    fake.orders.push(order_update(A, "good", ts_ms=ts))

    eventually(lambda: len(inbox(redis_client, A)) == 1)
    eventually(lambda: redis_client.hget(keys_for(A).tick, "price") == "101.5")
    rejects = eventually(
        lambda: (
            (r := redis_client.hgetall(BRIDGE_REJECTS)) and sum(map(int, r.values())) == 11 and r
        )
    )
    assert rejects == {
        "bad_decimal": "5",
        "unknown_symbol": "2",
        "bad_timestamp": "1",
        "unspecified_enum": "2",
        "oversized": "1",
    }
    assert [e["order_id"] for _, e in inbox(redis_client, A)] == ["good"]
    assert inbox(redis_client, "ZZZUSDT") == [] and not redis_client.exists(keys_for(B).inbox)
    assert bridge.proc.poll() is None  # type: ignore[attr-defined]
    assert bridge.stop() == 0  # type: ignore[attr-defined]


def test_prices_conflate_into_the_newest_tick_with_one_pending_price_task(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    started(start_bridge, fake, redis_client)
    ts = now_ms()

    for seq in range(1, 2001):
        fake.prices.push(
            tick(A, f"{100 + seq / 100}", ts + seq, seq),
            tick(B, f"{50 + seq / 100}", ts + seq, seq),
        )

    eventually(lambda: redis_client.hget(keys_for(A).tick, "seq") == "2000")
    eventually(lambda: redis_client.hget(keys_for(B).tick, "seq") == "2000")
    assert redis_client.hgetall(keys_for(A).tick) == {
        "price": "120",
        "ts_event_ms": str(ts + 2000),
        "seq": "2000",
    }
    for symbol in (A, B):
        price_tasks = [
            args
            for name, args in queued_tasks(redis_client, symbol.lower())
            if name == "mmtasks.symbol.on_price"
        ]
        assert price_tasks == [[symbol]]  # no worker runs: the first task is still pending


def test_order_updates_land_in_the_inbox_in_order_with_increasing_seq(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    started(start_bridge, fake, redis_client)
    ts = now_ms()
    sent = {A: [f"a{i}" for i in range(300)], B: [f"b{i}" for i in range(300)]}

    for a, b in zip(sent[A], sent[B], strict=True):
        fake.orders.push(order_update(A, a, ts_ms=ts), order_update(B, b, ts_ms=ts))

    for symbol in (A, B):
        entries = eventually(
            lambda s=symbol: len(inbox(redis_client, s)) == 300 and inbox(redis_client, s)
        )
        assert [seq for seq, _ in entries] == list(range(1, 301))
        assert [e["order_id"] for _, e in entries] == sent[symbol]
        wakes = eventually(lambda s=symbol: order_wakes(redis_client, s))  # sent after the write
        assert 1 <= len(wakes) <= 300  # batches: one wake per symbol per write


def order_wakes(client: redis_lib.Redis, symbol: str) -> list[str]:
    """Return the on_order tasks queued for symbol."""
    return [n for n, _ in queued_tasks(client, symbol.lower()) if n == "mmtasks.symbol.on_order"]


def test_candles_land_in_the_inbox_and_forming_updates_never_outlive_the_close(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    started(start_bridge, fake, redis_client)
    minute = now_ms() // 60_000 * 60_000 - 120_000

    fake.klines.push(
        kline(A, minute, "10", closed=False),
        kline(A, minute, "11", closed=True),
        kline(A, minute + 60_000, "12", closed=True),
        kline(B, minute, "5"),
    )

    entries = eventually(lambda: (e := inbox(redis_client, A)) and e[-1][1]["close"] == "12" and e)
    closed = [(e["open_ms"], e["close"]) for _, e in entries if e["closed"]]
    assert closed == [(minute, "11"), (minute + 60_000, "12")]
    assert all(e["kind"] == "candle" for _, e in entries)
    assert [seq for seq, _ in entries] == list(range(1, len(entries) + 1))
    # The wake is sent after the inbox write: wait for it, as for the entries.
    eventually(lambda: ("mmtasks.symbol.on_candle", [A]) in queued_tasks(redis_client, A.lower()))
    eventually(lambda: len(inbox(redis_client, B)) == 1)


def test_sigterm_writes_what_was_read_and_exits_zero_within_ten_seconds(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    bridge = started(start_bridge, fake, redis_client)
    ts = now_ms()
    fake.orders.push(*[order_update(A, f"o{i}", ts_ms=ts) for i in range(3000)])
    eventually(lambda: redis_client.exists(keys_for(A).inbox))

    t0 = time.monotonic()
    code = bridge.stop(timeout_s=10)  # type: ignore[attr-defined]

    assert code == 0 and time.monotonic() - t0 < 10
    entries = inbox(redis_client, A)
    # Whatever it got to write is a gap-free prefix of what was sent, in order.
    assert [e["order_id"] for _, e in entries] == [f"o{i}" for i in range(len(entries))]
    assert [seq for seq, _ in entries] == list(range(1, len(entries) + 1))
    assert redis_client.hget(BRIDGE_HEARTBEAT, "state") == "stopped"


def test_a_restarted_bridge_continues_the_seq_and_applies_nothing_twice(
    start_bridge: object, fake: FakeConnector, redis_client: redis_lib.Redis
) -> None:
    first = started(start_bridge, fake, redis_client)
    ts = now_ms()
    fake.orders.push(*[order_update(A, f"o{i}", ts_ms=ts) for i in range(5)])
    eventually(lambda: len(inbox(redis_client, A)) == 5)
    assert first.stop() == 0  # type: ignore[attr-defined]
    eventually(lambda: fake.orders.open_count == 0)

    started(start_bridge, fake, redis_client)
    fake.orders.push(*[order_update(A, f"o{i}", ts_ms=ts) for i in range(5, 10)])

    entries = eventually(lambda: (e := inbox(redis_client, A)) and len(e) == 10 and e)
    assert [seq for seq, _ in entries] == list(range(1, 11))
    assert [e["order_id"] for _, e in entries] == [f"o{i}" for i in range(10)]

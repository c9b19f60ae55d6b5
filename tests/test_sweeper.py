"""Beat's sweeper wakes the symbols whose inbox is ahead of the cursor with nothing queued."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis as redis_lib

from mmtasks.messages import CandleEvent, dump_event
from mmtasks.runtime import reset_runtime
from mmtasks.settings import get_settings
from mmtasks.state.keys import SYMBOLS, keys_for
from mmtasks.state.store import SymbolStore


@pytest.fixture
def on_test_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this process's settings, runtime and Celery app at the test's Redis database."""
    from mmtasks.celery import app, use_services

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_runtime()
    before = app.conf.broker_url, app.conf.result_backend
    use_services(app, get_settings())
    yield
    app.conf.broker_url, app.conf.result_backend = before
    get_settings.cache_clear()
    reset_runtime()


def test_sweeper_wakes_only_symbols_with_unread_events_and_an_empty_queue(
    on_test_redis: None, redis_client: redis_lib.Redis
) -> None:
    # Arrange: BEHIND has unread events, CAUGHTUP has none, QUEUED already has a task waiting.
    from mmtasks.tasks.beat import sweep_inboxes

    redis_client.sadd(SYMBOLS, "BEHIND", "CAUGHTUP", "QUEUED")
    for symbol, issued, cursor in (("BEHIND", 5, 3), ("CAUGHTUP", 4, 4), ("QUEUED", 9, 2)):
        redis_client.set(keys_for(symbol).seq, issued)
        redis_client.hset(keys_for(symbol).state, "last_seq", cursor)
    redis_client.rpush("queued", "a task already waiting")

    # Act
    result = sweep_inboxes()

    # Assert: one drain task on BEHIND's own queue, nothing for the others.
    assert result == {"woken": ["BEHIND"]}
    assert redis_client.llen("behind") == 1
    assert redis_client.llen("caughtup") == 0
    assert redis_client.llen("queued") == 1


def _forming(symbol: str, open_ms: int, volume: str) -> CandleEvent:
    return CandleEvent(
        symbol=symbol,
        interval="1m",
        open_ms=open_ms,
        open=Decimal(100),
        high=Decimal(101),
        low=Decimal(99),
        close=Decimal(100),
        volume=Decimal(volume),
        closed=False,
    )


def test_forming_candles_alone_wake_a_symbol_only_once_its_last_step_is_old(
    on_test_redis: None, redis_client: redis_lib.Redis
) -> None:
    # Arrange: four symbols whose only unread entries are forming candles (appended as the
    # bridge does, with no task), except FILLED's which ends with an order update whose task
    # was lost. FRESH stepped a second ago, STALE 11 s ago (FORMING_DRAIN_S is 10), NEVER has
    # not stepped at all.
    from mmtasks.tasks.beat import FORMING_DRAIN_S, sweep_inboxes

    assert FORMING_DRAIN_S == 10
    now_ms = int(time.time() * 1000)
    last_step = {"FRESH": now_ms - 1_000, "STALE": now_ms - 11_000, "FILLED": now_ms - 1_000}
    for symbol in ("FRESH", "STALE", "NEVER", "FILLED"):
        redis_client.sadd(SYMBOLS, symbol)
        store = SymbolStore(redis_client, symbol)
        for minute in range(3):
            store.append(dump_event(_forming(symbol, 60_000 * minute, str(minute + 1))))
        redis_client.hset(keys_for(symbol).state, "last_seq", 0)
        if symbol in last_step:
            redis_client.hset(keys_for(symbol).state, "last_step_ms", last_step[symbol])
    store = SymbolStore(redis_client, "FILLED")
    store.append({"kind": "order", "symbol": "FILLED", "status": "FILLED"})

    # Act
    result = sweep_inboxes()

    # Assert: FRESH is left for its next step; the others get one drain each.
    assert sorted(result["woken"]) == ["FILLED", "NEVER", "STALE"]
    assert [redis_client.llen(s.lower()) for s in ("FRESH", "STALE", "NEVER", "FILLED")] == [
        0,
        1,
        1,
        1,
    ]


def test_the_audit_calls_a_symbol_with_only_forming_candles_unread_quiet(
    redis_client: redis_lib.Redis,
) -> None:
    # Arrange: QUIET has two forming candles past its cursor; BUSY also an order update.
    from mmtasks.audit.settle import busy_reason

    for symbol in ("QUIET", "BUSY"):
        store = SymbolStore(redis_client, symbol)
        redis_client.hset(keys_for(symbol).state, "last_seq", 0)
        for minute in range(2):
            store.append(dump_event(_forming(symbol, 60_000 * minute, "1")))
    SymbolStore(redis_client, "BUSY").append({"kind": "order", "symbol": "BUSY"})

    # Act / Assert: forming candles move no order, fill or command: the fleet is settled.
    assert busy_reason(redis_client, "QUIET") == ""
    assert busy_reason(redis_client, "BUSY") == "inbox cursor 0 != seq 3"

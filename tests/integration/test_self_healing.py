"""Self-healing: temporary faults degrade and heal, ERROR recovers with a limit (beat's
budget), a Redis wipe is repaired without an operator, events go out exactly once, and
unknown symbols leave no trace.

The step runs in this process (`run_step`, beat's `heal_fleet`) against real Redis, Postgres
and the simulated connector over gRPC; there is no bridge, so fills that happen at the
exchange are learned by reconcile, exactly the late path these promises are about. That a
symbol in ERROR still applies its fills, and that late fills land in trade order, is tested on
the step alone, in tests/step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.errors import OperationalError
from mmtasks.ledger import flush_buffer, summarize
from mmtasks.registry import store as registry
from mmtasks.registry.symbol_commands import init_symbol, send_command
from mmtasks.runtime import Runtime, get_runtime, reset_runtime
from mmtasks.settings import get_settings
from mmtasks.state.keys import DROPPED, EVENTS, SYMBOLS, keys_for
from mmtasks.tasks.beat import heal_fleet
from mmtasks.trading.step import run_step
from tests.integration.conftest import SYMBOLS as LISTED
from tests.integration.conftest import resting
from tests.kit.configs import GRID as LONG
from tests.kit.env import fleet_env
from tests.kit.feed import publish_tick, set_price
from tests.kit.poll import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

D = Decimal
A = LISTED[0]


@pytest.fixture
def rt(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, ledger_url: str, exchange_addr: str
) -> Iterator[Runtime]:
    """Return this process's runtime on the test's Redis, Postgres and connector.

    Recovery is made quick (attempts 0.2 s apart) so the test waits for seconds, not minutes.
    """
    env = fleet_env(
        redis_url,
        ledger_url,
        exchange_addr,
        MMTASKS_RECOVERY_BACKOFF_S="0.2",
        MMTASKS_RECOVERY_ATTEMPTS="2",
        MMTASKS_DEGRADED_TO_ERROR_S="60",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_runtime()
    yield get_runtime()
    reset_runtime()
    get_settings.cache_clear()


def text(rt: Runtime) -> redis_lib.Redis:
    """Return a client on the runtime's Redis that answers str, for reading state."""
    return redis_lib.Redis.from_url(rt.settings.redis_url, decode_responses=True)


def step(rt: Runtime, symbol: str = A, *, may_fail: bool = False) -> dict[str, str]:
    """Run one step of symbol in this process; return its state hash afterwards.

    With may_fail, an operational error (which fails the task, as it should) is swallowed.
    """
    try:
        run_step(rt, symbol, "test")
    except OperationalError:
        if not may_fail:
            raise
    return text(rt).hgetall(keys_for(symbol).state)  # type: ignore[return-value]


def price(sim: Any, rt: Runtime, value: str, symbol: str = A) -> None:
    """Trade the exchange at value (resting orders it reaches fill) and store the tick."""
    set_price(sim, rt.redis, symbol, value)


def reconcile_now(rt: Runtime, symbol: str = A) -> dict[str, str]:
    """Queue a reconcile command and run the step that applies it."""
    send_command(rt.redis, app, symbol, "reconcile", issued_by="test")
    return step(rt, symbol)


def position(rt: Runtime, symbol: str = A) -> dict[str, Decimal]:
    raw = text(rt).hgetall(keys_for(symbol).position)
    return {k: D(v) for k, v in raw.items()}  # type: ignore[union-attr]


def events(rt: Runtime, symbol: str = A) -> list[dict[str, str]]:
    return [f for _, f in text(rt).xrange(EVENTS) if f.get("symbol") == symbol]  # type: ignore[union-attr]


def start(rt: Runtime, exchange: Any, sim: Any, grid: dict[str, Any], at: str = "100") -> None:
    init_symbol(rt.redis, app, exchange, A, grid)
    step(rt)  # applies init (and reconciles: nothing there yet)
    price(sim, rt, at)
    step(rt)


def test_an_unavailable_burst_degrades_the_symbol_and_it_trades_again_by_itself(
    rt: Runtime, exchange: Any, sim: Any
) -> None:
    # Arrange: a long grid resting BUY 90, 80 at 100.
    start(rt, exchange, sim, LONG)
    assert resting(exchange, A) == [("BUY", D(80)), ("BUY", D(90))]

    # Act: the connector refuses the next 3 calls while the price moves to 111.
    sim.fail_next_calls(3, "UNAVAILABLE")
    price_tick = sim.inject_price(A, "111")
    sim.fail_next_calls(3, "UNAVAILABLE")  # the inject itself is not an ExchangeService call
    publish_tick(rt.redis, app, A, D("111"), price_tick.ts_event_ms, price_tick.seq)
    first = step(rt)
    seen = [first]
    healed = eventually(
        lambda: (s := step(rt), seen.append(s), not s.get("degraded_since_ms"))[-1], 20, 0.1
    )

    # Assert: DEGRADED with the error, never ERROR; then trading again,
    # with the grid of GRID.md's "long 100 -> 111" case.
    assert first["status"] == "ACTIVE" and first["degraded_since_ms"]
    assert "UNAVAILABLE" in first["last_error"] or "unavailable" in first["last_error"].lower()
    assert all(s["status"] == "ACTIVE" for s in seen)
    assert healed
    assert resting(exchange, A) == [("BUY", D(90)), ("BUY", D(100))]
    kinds = [e["type"] for e in events(rt)]
    assert kinds.count("SYMBOL_DEGRADED") == 1 and kinds.count("SYMBOL_RECOVERED") == 1


def test_a_temporary_fault_that_outlasts_the_window_moves_to_error_and_recovery_heals_it(
    rt: Runtime, exchange: Any, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a window of 1 s, so a connector that keeps refusing turns into ERROR quickly.
    start(rt, exchange, sim, LONG)
    rt.settings = rt.settings.model_copy(update={"degraded_to_error_s": 1.0})
    sim.fail_next_calls(1000, "UNAVAILABLE")
    send_command(rt.redis, app, A, "reconcile", issued_by="test")

    # Act: retry (after each backoff) until the fault has lasted past the window.
    errored = eventually(lambda: step(rt)["status"] == "ERROR", 20, 0.1)
    sim.fail_next_calls(0)
    heal_fleet()  # beat: sends recovery attempt 1
    healed = eventually(lambda: step(rt)["status"] == "ACTIVE", 10, 0.1)
    recovered = eventually(lambda: step(rt).get("recovering") != "1", 10, 0.1)

    # Assert: ERROR said why; the attempt and its outcome are events; trading resumed.
    assert errored and healed and recovered
    assert text(rt).hget(keys_for(A).recovery, "attempts") == "1"  # beat's own budget key
    kinds = [e["type"] for e in events(rt)]
    assert kinds.index("RECOVERY_ATTEMPTED") < len(kinds) - kinds[::-1].index("SYMBOL_RECOVERED")
    error_event = next(
        json.loads(e["data"])
        for e in events(rt)
        if e["type"] == "SYMBOL_STATE_CHANGED" and json.loads(e["data"]).get("status") == "ERROR"
    )
    assert error_event["error"].startswith("temporary fault lasted")
    assert resting(exchange, A) == [("BUY", D(80)), ("BUY", D(90))]


def test_a_rate_limit_that_outlasts_the_window_stays_degraded_and_trades_again_by_itself(
    rt: Runtime, exchange: Any, sim: Any
) -> None:
    # Arrange: the same 1 s window, but the connector answers "rate limited" (the budget or the
    # venue pacing the fleet): that never turns into ERROR.
    start(rt, exchange, sim, LONG)
    rt.settings = rt.settings.model_copy(update={"degraded_to_error_s": 1.0})
    sim.fail_next_calls(1000, "RESOURCE_EXHAUSTED")
    send_command(rt.redis, app, A, "reconcile", issued_by="test")

    # Act: retry (after each backoff) for well past the window.
    first = step(rt)
    since = int(first["degraded_since_ms"])
    lasted = eventually(
        lambda: (s := step(rt), int(s.get("last_step_ms") or 0) - since > 2000 and s)[-1], 20, 0.1
    )
    sim.fail_next_calls(0)
    healed = eventually(lambda: not step(rt).get("degraded_since_ms"), 20, 0.1)

    # Assert: DEGRADED all along, never ERROR; then trading again with the same grid.
    assert lasted["status"] == "ACTIVE" and lasted["degraded_since_ms"] == str(since)
    assert "RateLimitedError" in lasted["last_error"]
    assert healed
    assert "SYMBOL_STATE_CHANGED" not in [
        e["type"] for e in events(rt) if '"ERROR"' in e.get("data", "")
    ]
    assert resting(exchange, A) == [("BUY", D(80)), ("BUY", D(90))]


def test_recovery_gives_up_after_its_attempts_cancelling_entries_and_keeping_closing_orders(
    rt: Runtime, exchange: Any, sim: Any
) -> None:
    # Arrange: BUY 90 filled, so a closing SELL 100 rests beside the entries BUY 80, 70.
    start(rt, exchange, sim, LONG)
    price(sim, rt, "89")
    reconcile_now(rt)
    step(rt)
    assert resting(exchange, A) == [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]
    # A stored config that cannot be read is an operational error: every attempt fails.
    rt.redis.hset(keys_for(A).config, "strategy", "{not json")
    assert step(rt, may_fail=True)["status"] == "ERROR"

    # Act: beat's healer runs until the budget of 2 attempts is spent.
    def exhausted() -> bool:
        heal_fleet()
        state = step(rt, may_fail=True)
        return state.get("give_up") == "1" and state["status"] == "ERROR"

    eventually(exhausted, 20, 0.25)
    step(rt, may_fail=True)

    # Assert: ERROR stays, the entries are gone, the closing order rests, and it was said.
    assert text(rt).hget(keys_for(A).state, "status") == "ERROR"
    assert resting(exchange, A) == [("SELL", D(100))]
    kinds = [e["type"] for e in events(rt)]
    assert kinds.count("RECOVERY_ATTEMPTED") == 2
    assert kinds.count("RECOVERY_EXHAUSTED") == 1


def test_redis_restarted_empty_is_rebuilt_by_beat_and_the_ledger_gets_the_missed_trades(
    rt: Runtime, exchange: Any, sim: Any
) -> None:
    # Arrange: the symbol is in the registry; BUY 90 filled and reached the ledger; the
    # closing SELL 100 rests.
    with psycopg.connect(rt.settings.database_url, autocommit=True) as conn:
        registry.insert_symbol(conn, registry.SymbolRow(A, "sim", LONG, {}))
    start(rt, exchange, sim, LONG)
    price(sim, rt, "89")
    reconcile_now(rt)
    step(rt)
    flush_buffer(rt.redis, rt.pg, A)
    assert ("SELL", D(100)) in resting(exchange, A)

    # Act: Redis loses everything; while nobody knows the symbol, SELL 100 fills at 101.
    rt.redis.flushdb()
    sim.inject_price(A, "101")
    report = heal_fleet()  # beat notices the registry symbol Redis lacks
    eventually(lambda: step(rt).get("status") == "ACTIVE" and not _pending(rt), 10, 0.1)
    flush_buffer(rt.redis, rt.pg, A)

    # Assert: rebuilt without an operator; the trade made meanwhile is in the ledger once;
    # Redis PnL equals the ledger's: BUY 90 then SELL 100 realize 10, flat.
    assert report["rehydrated"] is not None and A in report["rehydrated"]["sent"]
    assert rt.redis.sismember(SYMBOLS, A)
    with psycopg.connect(rt.settings.database_url) as conn:
        ledger = summarize(conn, A)
        trade_ids = [r[0] for r in conn.execute("SELECT trade_id FROM fills").fetchall()]
    ours = sorted(t.trade_id for t in exchange.trades(A))
    assert sorted(trade_ids) == ours and len(ours) == 2
    pos = position(rt)
    assert (pos["qty"], pos["realized_pnl"]) == (0, 10) == (ledger.position, ledger.realized_pnl)
    assert pos["fees"] == ledger.fees


@pytest.mark.parametrize("symbol", ["ZZZUSDT", "X" * 10_000, "BTC\x00USDT", "btc usdt"])
def test_a_task_for_a_symbol_not_in_the_fleet_is_dropped_and_creates_no_key(
    rt: Runtime, symbol: str
) -> None:
    result = run_step(rt, symbol, "price")

    assert result.skipped == "symbol not in the fleet"
    assert text(rt).keys("mm:{*") == []
    assert sum(int(v) for v in text(rt).hvals(DROPPED)) == 1


def test_events_reach_the_stream_once_in_order_even_when_relayed_again(
    rt: Runtime, exchange: Any, sim: Any
) -> None:
    # Arrange and act: a few steps, then the relay runs again as beat would (twice).
    start(rt, exchange, sim, LONG)
    price(sim, rt, "89")
    reconcile_now(rt)
    step(rt)
    heal_fleet()
    heal_fleet()

    # Assert: per symbol, event_seq runs 1..n without gap or repeat, and equals the outbox.
    seqs = [int(e["event_seq"]) for e in events(rt)]
    outbox = rt.redis.xlen(keys_for(A).outbox)
    assert seqs == list(range(1, outbox + 1)) and outbox > 5


def _pending(rt: Runtime) -> bool:
    slots = text(rt).hvals(keys_for(A).slots)
    return any(json.loads(s).get("status") == "PENDING" for s in slots)

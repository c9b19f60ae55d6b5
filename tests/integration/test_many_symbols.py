"""Many symbols in one worker process (the production layout, mmtasks/assign.py): a symbol whose
every venue call fails and one whose calls take 2 s do not hold their six neighbours, and a
kill -9 of the process loses nothing.

One real `celery worker -P threads -c 8` consumes eight symbol queues; the simulated connector
fails every call naming BADUSDT and delays every call naming SLOWUSDT by 2 s (a market in
trouble at the venue). The six others trade GRID.md's path 100 -> 89 (BUY 90 fills: long 1,
SELL 100 closes) while those two are stuck. Their latency beside an unfaulted run is a figure,
not an assertion: `python bench/bench_isolation.py` prints both.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.audit.invariants import check
from mmtasks.audit.settle import wait_settled
from mmtasks.celery import app
from mmtasks.registry.symbol_commands import init_symbol
from mmtasks.state.record import read_record
from tests.integration.conftest import GRID, ledger_rows, resting
from tests.kit.feed import OrderPump, set_price
from tests.kit.poll import until_equal
from tests.kit.procs import connector, launch

D = Decimal
BAD, SLOW = "BADUSDT", "SLOWUSDT"
HEALTHY = tuple(f"OK{i}USDT" for i in range(6))
SYMBOLS = (BAD, SLOW, *HEALTHY)
GRID_UP = [("BUY", D(80)), ("BUY", D(90))]
AFTER_BUY = [("BUY", D(70)), ("BUY", D(80)), ("SELL", D(100))]


@pytest.fixture
def exchange_addr() -> Any:
    with connector("--feed", "none", "--symbols", ",".join(SYMBOLS)) as addr:
        yield addr


@pytest.fixture
def pump(exchange_addr: str, redis_url: str) -> Any:
    p = OrderPump(exchange_addr, redis_url, set(SYMBOLS))
    yield p
    p.close()


def qty(client: redis_lib.Redis, symbol: str) -> Decimal:
    return D(client.hget(f"mm:{{{symbol.lower()}}}:position", "qty") or 0)


def test_a_failing_and_a_slow_symbol_leave_their_neighbours_trading_and_a_kill_loses_nothing(
    workers: Any,
    pump: Any,
    exchange: Any,
    sim: Any,
    redis_client: redis_lib.Redis,
    ledger_url: str,
    fleet_env: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # Arrange: eight symbols in one worker process, every grid resting at 100.
    worker = workers([s.lower() for s in SYMBOLS], name="eight")
    for symbol in SYMBOLS:
        init_symbol(redis_client, app, exchange, symbol, GRID)
        set_price(sim, redis_client, symbol, "100")
    for symbol in SYMBOLS:
        until_equal(lambda s=symbol: resting(exchange, s), GRID_UP)
    sim.fail_next_calls(1_000_000, "UNAVAILABLE", symbol=BAD)
    sim.set_latency(2000, symbol=SLOW)

    # Act: every symbol's BUY 90 fills at the venue; each symbol hears of its fill and price.
    for symbol in SYMBOLS:
        set_price(sim, redis_client, symbol, "89")

    # Assert: the six place their closing SELL 100 and hold long 1, while BADUSDT backs off
    # (DEGRADED: every call it makes fails) and SLOWUSDT's calls take 2 s each.
    for symbol in HEALTHY:
        until_equal(lambda s=symbol: resting(exchange, s), AFTER_BUY)
        until_equal(lambda s=symbol: qty(redis_client, s), D(1))
    until_equal(lambda: read_record(redis_client, BAD).degraded is not None, True)

    # Act: the process dies (SIGKILL) mid-trading, its reserved tasks with it (beat's sweeper
    # finds what they would have done, as in production); meanwhile the six close at 100 and
    # the venue recovers; a new process takes the eight queues.
    workers(["control"], name="control")
    beat = launch(
        "beat",
        *("-m", "celery", "-A", "mmtasks", "beat", "-s", str(tmp_path / "schedule")),
        env=fleet_env,
    )
    request.addfinalizer(beat.stop)
    worker.kill()
    for symbol in SYMBOLS:
        sim.inject_price(symbol, "100")
    sim.fail_next_calls(0, "UNAVAILABLE", symbol=BAD)
    sim.set_latency(0, symbol=SLOW)
    workers([s.lower() for s in SYMBOLS], name="again")

    # Assert: the six are flat once they have reconciled (their closes filled while no worker
    # ran), and for all eight the checker finds the exchange, Redis and the ledger in
    # agreement: no fill lost, none counted twice, no duplicate order.
    for symbol in HEALTHY:
        until_equal(lambda s=symbol: qty(redis_client, s), D(0), timeout_s=60)
    settled = wait_settled(redis_client, SYMBOLS, exchange=exchange, timeout_s=60)
    assert settled.settled, settled.unsettled
    reports = check(exchange, redis_client, ledger_url, SYMBOLS)
    assert [r.symbol for r in reports if not r.ok] == [], [r for r in reports if not r.ok]
    for symbol in HEALTHY:
        assert sorted((r[1], r[2]) for r in ledger_rows(ledger_url, symbol)) == [
            ("BUY", D(90)),
            ("SELL", D(100)),
        ]

"""Two venues in one fleet: the simulated connector and a Binance connector (ccxt on the
Binance-speaking simulator), each symbol's orders on the venue its registry row names.

Real processes: both connectors, the control worker (add_symbol), and one symbol worker that
consumes both queues, so one process routes each symbol to its own venue (MMTASKS_VENUES).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib

from mmtasks.celery import app
from mmtasks.connector.client import ExchangeClient
from tests.kit.binance import BinanceSimControl
from tests.kit.configs import GRID
from tests.kit.env import fleet_env
from tests.kit.feed import set_price
from tests.kit.poll import until_equal
from tests.kit.procs import Workers, binance_sim, connector, venue_connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ON_SIM, ON_BINANCE = "SIMAUSDT", "BINAUSDT"
D = Decimal


@pytest.fixture
def venues(redis_url: str) -> Iterator[tuple[str, str, str]]:
    """(sim connector, binance connector, binance simulator URL), all running."""
    with (
        connector("--feed", "none", "--symbols", f"{ON_SIM},SPAREUSDT") as sim_addr,
        binance_sim("--feed", "none", "--symbols", ON_BINANCE) as base,
        venue_connector(
            "binanceusdm", base, "--symbols", ON_BINANCE, env={"REDIS_URL": redis_url}
        ) as binance_addr,
    ):
        yield sim_addr, binance_addr, base


def resting(client: Any, symbol: str) -> list[tuple[str, Decimal]]:
    return sorted((o.side.value, o.price) for o in client.open_orders(symbol))


def admin(task: str, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = app.send_task(f"mmtasks.admin.{task}", kwargs=kwargs).get(timeout=60)
    return answer


def test_each_symbol_trades_on_the_venue_its_registry_row_names(
    venues: tuple[str, str, str],
    redis_url: str,
    ledger_url: str,
    redis_client: redis_lib.Redis,
) -> None:
    from mmtasks.connector.sim_client import SimControlClient

    sim_addr, binance_addr, base = venues
    env = fleet_env(redis_url, ledger_url, sim_addr, MMTASKS_VENUES=f"binanceusdm={binance_addr}")
    workers = Workers(env)
    sim_client, binance_client = ExchangeClient(sim_addr), ExchangeClient(binance_addr)
    sim_control, binance_control = SimControlClient(sim_addr), BinanceSimControl(base)
    try:
        workers.start(["control"], name="control").wait_ready()
        workers.start([ON_SIM.lower(), ON_BINANCE.lower()], name="both").wait_ready()

        # Act: one symbol on each venue, then both priced at 100.
        assert admin("add_symbol", symbol=ON_SIM, strategy=GRID)["ok"]
        added = admin("add_symbol", symbol=ON_BINANCE, exchange="binanceusdm", strategy=GRID)
        assert added["ok"], added
        set_price(sim_control, redis_client, ON_SIM, "100")
        set_price(binance_control, redis_client, ON_BINANCE, "100")

        # Assert: each grid rests on its own venue, nothing on the other.
        grid = [("BUY", D(80)), ("BUY", D(90))]
        until_equal(lambda: resting(sim_client, ON_SIM), grid, timeout_s=60)
        until_equal(lambda: resting(binance_client, ON_BINANCE), grid, timeout_s=60)
        assert [
            o for o in binance_control._http.get("/_sim/orders").json() if o["symbol"] != ON_BINANCE
        ] == []

        # A name already on one venue is refused on the other, saying where it is.
        again = admin("add_symbol", symbol=ON_SIM, exchange="binanceusdm", strategy=GRID)
        assert not again["ok"] and "already registered on sim" in again["error"]
        # A venue whose connector is not the one reached is refused with the fix.
        wrong = admin("add_symbol", symbol="SPAREUSDT", exchange="binance", strategy=GRID)
        assert not wrong["ok"] and "MMTASKS_VENUES" in wrong["error"]
        status = admin("status")
        venues_of = {s["symbol"]: s["exchange"] for s in status["symbols"]}
        assert venues_of == {ON_SIM: "sim", ON_BINANCE: "binanceusdm"}
    finally:
        workers.stop_all()
        sim_client.close()
        binance_client.close()
        sim_control.close()
        binance_control.close()

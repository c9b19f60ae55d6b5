"""Fixtures of a fleet on a real-venue connector: ccxt on the Binance-speaking simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib

from mmtasks.state.keys import BRIDGE_HEARTBEAT
from tests.kit.binance import BinanceSimControl
from tests.kit.fixtures import (  # noqa: F401 - fixtures reused as they are
    _celery_app_on_test_redis,
    exchange,
    fleet_env,
    ledger_url,
    workers,
)
from tests.kit.poll import eventually
from tests.kit.procs import BridgeProc, binance_sim, venue_connector

SYMBOL = "GRIDUSDT"


@pytest.fixture
def binance_base() -> Iterator[str]:
    with binance_sim("--feed", "none", "--symbols", SYMBOL) as base:
        yield base


@pytest.fixture
def connector_env() -> dict[str, str]:
    """Extra environment of the connector (a test may give it wrong keys)."""
    return {}


@pytest.fixture
def exchange_addr(
    binance_base: str, connector_env: dict[str, str], redis_url: str
) -> Iterator[str]:
    env = {"REDIS_URL": redis_url, **connector_env}  # the rate budget in the test's Redis
    with venue_connector("binanceusdm", binance_base, "--symbols", SYMBOL, env=env) as a:
        yield a


@pytest.fixture
def sim(binance_base: str) -> Iterator[BinanceSimControl]:
    control = BinanceSimControl(binance_base)
    yield control
    control.close()


@pytest.fixture
def bridge(
    fleet_env: dict[str, str],  # noqa: F811 - the kit's fixture
    redis_client: redis_lib.Redis,
) -> Iterator[BridgeProc]:
    proc = BridgeProc(["--symbols", SYMBOL], {**fleet_env, "LOG_LEVEL": "INFO"})
    eventually(lambda: redis_client.hget(BRIDGE_HEARTBEAT, "state") == "connected", 30)
    yield proc
    proc.stop()

"""Fixtures of the in-process simulated exchange: a fake clock and a fresh exchange."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sim_helpers import FakeClock

from mmtasks.sim import SimConfig, SimExchange
from mmtasks.venue import OrderUpdate


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_exchange(clock: FakeClock) -> Callable[..., SimExchange]:
    """Return a factory of exchanges on the fake clock with plain numeric ids."""

    def make(
        symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"), liquidity: str | None = None
    ) -> SimExchange:
        config = SimConfig(
            symbols=symbols,
            liquidity=Decimal(liquidity) if liquidity else None,
            id_prefix="",
        )
        return SimExchange(config, clock=clock)

    return make


@pytest.fixture
def exchange(make_exchange: Callable[..., SimExchange]) -> SimExchange:
    return make_exchange()


@pytest.fixture
def updates(exchange: SimExchange) -> list[OrderUpdate]:
    """Collect every order update of the exchange fixture."""
    seen: list[OrderUpdate] = []
    exchange.add_listener("order", seen.append)
    return seen

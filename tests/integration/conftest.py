"""Fixtures for tests that run the fleet's real processes (built from tests/kit)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.registry.migrate import migrate
from tests.kit.configs import GRID
from tests.kit.env import fleet_env as build_env
from tests.kit.env import point_app_at
from tests.kit.feed import OrderPump
from tests.kit.procs import Workers, connector

SYMBOLS = ("GRIDUSDT", "ALTUSDT")
__all__ = ["GRID", "SYMBOLS", "ledger_rows", "redis_position", "resting"]


@pytest.fixture(autouse=True)
def _celery_app_on_test_redis(redis_base_url: str) -> None:
    """Point the in-test Celery app (used to send tasks) at the session's Redis database."""
    point_app_at(redis_base_url)


@pytest.fixture
def ledger_url(pg_url: str) -> str:
    """Return a Postgres URL with the schema migrated."""
    migrate(pg_url)
    return pg_url


@pytest.fixture
def exchange_addr() -> Iterator[str]:
    """Run the simulated connector with no automatic feed: prices come only from the test."""
    with connector("--feed", "none", "--symbols", ",".join(SYMBOLS)) as addr:
        yield addr


@pytest.fixture
def fleet_env(redis_url: str, ledger_url: str, exchange_addr: str) -> dict[str, str]:
    """Return the environment every fleet process of this test gets."""
    return build_env(redis_url, ledger_url, exchange_addr, MMTASKS_LOCK_TTL_MS="2000")


@pytest.fixture
def workers(fleet_env: dict[str, str]) -> Iterator[Workers]:
    """Start workers on demand (`workers(queues, env=..., name=...)`); stop them all after."""
    launcher = Workers(fleet_env)
    yield launcher
    launcher.stop_all()


@pytest.fixture
def pump(exchange_addr: str, redis_url: str) -> Iterator[OrderPump]:
    p = OrderPump(exchange_addr, redis_url, set(SYMBOLS))
    yield p
    p.close()


@pytest.fixture
def exchange(exchange_addr: str) -> Iterator[Any]:
    from mmtasks.connector.client import ExchangeClient

    client = ExchangeClient(exchange_addr)
    yield client
    client.close()


@pytest.fixture
def sim(exchange_addr: str) -> Iterator[Any]:
    from mmtasks.sim.control_client import SimControlClient

    client = SimControlClient(exchange_addr)
    yield client
    client.close()


def ledger_rows(url: str, symbol: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT trade_id, side, price, qty FROM fills WHERE symbol = %s ORDER BY ts_ms",
            (symbol,),
        ).fetchall()


def resting(exchange: Any, symbol: str) -> list[tuple[str, Decimal]]:
    """Return the symbol's open orders at the exchange as sorted (side, price) pairs."""
    return sorted((o.side.value, o.price) for o in exchange.open_orders(symbol))


def redis_position(redis_client: redis_lib.Redis, symbol: str) -> dict[str, str]:
    from mmtasks.state.keys import keys_for

    return redis_client.hgetall(keys_for(symbol).position)

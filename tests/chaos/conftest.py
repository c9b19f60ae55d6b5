"""Fixtures of the chaos tests: the `chaos` marker, a real connector, migrated ledger, clients.

`pytest -m chaos` selects every test here: the invariant checker's own tests (planted faults)
and the short CI versions of the chaos suite's scenarios.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmtasks.registry.migrate import migrate
from tests.kit.env import point_app_at
from tests.kit.procs import connector

SYMBOL = "GRIDUSDT"
OTHER = "ALTUSDT"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: invariant checker and short chaos scenarios (tests/chaos)"
    )


@pytest.fixture(autouse=True)
def _celery_app_on_test_redis(redis_base_url: str) -> None:
    """Point the in-test Celery app (used to send tasks) at the session's Redis database."""
    point_app_at(redis_base_url)


@pytest.fixture
def ledger_url(pg_url: str) -> str:
    """Return a Postgres URL with the registry and ledger schema migrated."""
    migrate(pg_url)
    return pg_url


@pytest.fixture
def exchange_addr() -> Iterator[str]:
    """Run the simulated connector with no feed: prices move only when a test injects them."""
    with connector("--feed", "none", "--symbols", f"{SYMBOL},{OTHER}") as addr:
        yield addr


@pytest.fixture
def exchange(exchange_addr: str) -> Iterator[Any]:
    from mmtasks.connector.client import ExchangeClient

    client = ExchangeClient(exchange_addr)
    client.wait_ready(20)
    yield client
    client.close()


@pytest.fixture
def sim(exchange_addr: str) -> Iterator[Any]:
    from mmtasks.sim.control_client import SimControlClient

    client = SimControlClient(exchange_addr)
    yield client
    client.close()

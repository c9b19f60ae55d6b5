"""Fixtures shared by the folders that run a fleet's processes: import them into a conftest.

The folder's conftest defines `exchange_addr` (its connector, with its symbols); these build
the rest on it: the migrated ledger, the fleet's environment, workers, venue clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmtasks.registry.migrate import migrate
from tests.kit.env import fleet_env as build_env
from tests.kit.env import point_app_at
from tests.kit.procs import Workers

LOCK_TTL_MS = "2000"  # a killed worker's lock frees quickly


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
def fleet_env(redis_url: str, ledger_url: str, exchange_addr: str) -> dict[str, str]:
    """Return the environment every fleet process of this test gets."""
    return build_env(redis_url, ledger_url, exchange_addr, MMTASKS_LOCK_TTL_MS=LOCK_TTL_MS)


@pytest.fixture
def workers(fleet_env: dict[str, str]) -> Iterator[Workers]:
    """Start workers on demand (`workers(queues, env=..., name=...)`); stop them all after."""
    launcher = Workers(fleet_env)
    yield launcher
    launcher.stop_all()


@pytest.fixture
def exchange(exchange_addr: str) -> Iterator[Any]:
    """Return a venue client (the workers' own) on the test's connector, once it serves."""
    from mmtasks.connector.client import ExchangeClient

    client = ExchangeClient(exchange_addr)
    client.wait_ready(20)
    yield client
    client.close()


@pytest.fixture
def sim(exchange_addr: str) -> Iterator[Any]:
    """Return the test controls (SimControl) of the test's connector."""
    from mmtasks.connector.sim_client import SimControlClient

    client = SimControlClient(exchange_addr)
    yield client
    client.close()

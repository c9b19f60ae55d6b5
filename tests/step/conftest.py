"""The worker step in process: real Redis (flushed per test), real Postgres, a SimVenue.

The ledger schema is migrated once per session and emptied per test (a fresh schema per test
would cost more than the tests themselves).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from mmtasks.embedded import Services
from mmtasks.registry.migrate import migrate
from mmtasks.state.keys import BEAT_LOCK
from tests.conftest import with_search_path
from tests.kit.configs import sim_venue
from tests.kit.desk import Desk, desk_for, desk_runtime
from tests.kit.env import point_app_at

SYMBOL = "GRIDUSDT"
LEDGER_TABLES = ("fills", "registry_audit", "symbol_registry", "fleet_risk")


@pytest.fixture(scope="session")
def step_ledger(services: Services, redis_base_url: str) -> Iterator[tuple[str, Any]]:
    """Return (url, pool) of a migrated Postgres schema kept for the session."""
    from psycopg_pool import ConnectionPool

    point_app_at(redis_base_url)  # the bridge writer sends its wake tasks to the test Redis
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = with_search_path(services.database_url, schema)
    migrate(url)
    pool = ConnectionPool(url, min_size=1, max_size=2, open=True, timeout=2)
    yield url, pool
    pool.close()
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def ledger(step_ledger: tuple[str, Any]) -> str:
    """Return the session ledger's URL, emptied."""
    url, pool = step_ledger
    with pool.connection() as conn:
        for table in LEDGER_TABLES:
            conn.execute(f"DELETE FROM {table}")
    return url


@pytest.fixture
def make_desk(
    redis_url: str, ledger: str, step_ledger: tuple[str, Any]
) -> Iterator[Callable[..., Desk]]:
    """Return a factory of GRIDUSDT desks on a sim at 100 (fee-free unless fees=True)."""
    from mmtasks.celery import app
    from mmtasks.settings import settings_for

    made: list[Desk] = []

    def make(fees: bool = False) -> Desk:
        venue = sim_venue(SYMBOL, fees=fees)
        rt = desk_runtime(settings_for(redis_url, ledger), redis_url, venue, step_ledger[1])
        rt.redis.set(BEAT_LOCK, "test")  # beat is running: no beat-down alert from the step
        made.append(desk_for(rt, app, SYMBOL))
        return made[-1]

    yield make
    for d in made:
        d.close()
        d.rt.redis.close()


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    """Return GRIDUSDT on a fee-free sim at 100, its step on the test's Redis and ledger."""
    return make_desk()

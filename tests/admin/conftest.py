"""Fleets for admin tests: a real connector, real Celery workers, admin calls by task name.

`control` is one fleet per module (connector + control worker, no symbol workers) for the calls
that only touch the registry and Redis; each test there uses symbols of its own. Never flush
Redis under running workers: it drops their broker bindings. `fleet` is a fresh fleet per test
(flushed Redis, new schema, own connector) for the scenarios that trade.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from mmtasks.embedded import Services
from tests.admin.calls import Admin
from tests.conftest import with_search_path
from tests.kit.configs import GRID
from tests.kit.env import fleet_env, point_app_at
from tests.kit.procs import Worker, Workers, connector

# The simulated exchange lists these; tests own disjoint subsets of them.
LISTED = (
    "AAAUSDT",
    "BBBUSDT",
    "CCCUSDT",
    "DDDUSDT",
    "EEEUSDT",
    "FFFUSDT",
    "GGGUSDT",
    "HHHUSDT",
    "IIIUSDT",
    "JJJUSDT",
)
D = Decimal
__all__ = ["GRID", "Fleet", "is_alive", "wait_ready"]


@pytest.fixture(scope="session", autouse=True)
def _celery_app_on_test_redis(redis_base_url: str) -> None:
    """Point the in-test Celery app (results, remote control) at the session's Redis database."""
    point_app_at(redis_base_url)


def wait_ready(worker: Worker, timeout_s: float = 60) -> Worker:
    """Return worker once it answers a ping."""
    return worker.wait_ready(timeout_s)


def is_alive(worker: Worker) -> bool:
    """Return True when worker's process runs and answers a ping."""
    return worker.proc.poll() is None and worker.answers()


@dataclass
class Fleet:
    """Processes and clients of one test fleet."""

    env: dict[str, str]
    addr: str
    pg_url: str
    redis: redis_lib.Redis
    admin: Admin
    launcher: Workers = field(init=False)

    def __post_init__(self) -> None:
        self.launcher = Workers(self.env)

    @property
    def workers(self) -> list[Worker]:
        return self.launcher.started

    def start(self, queues: list[str], name: str) -> Worker:
        """Start a worker on queues and return it once it answers."""
        return self.launcher.start(queues, name=name).wait_ready()

    def stop_all(self) -> None:
        """Stop every worker: signal them all first so they shut down together."""
        self.launcher.stop_all()


def _schema_url(services: Services) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, with_search_path(services.database_url, schema)


def _drop_schema(services: Services, schema: str) -> None:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def running_fleet(redis_url: str, pg_url: str, client: redis_lib.Redis) -> Iterator[Fleet]:
    """Run a connector listing LISTED and a control worker; stop them afterwards."""
    with connector("--feed", "none", "--symbols", ",".join(LISTED)) as addr:
        # No beat runs here: a test that wants removed symbols purged sends keep_bounded.
        env = fleet_env(redis_url, pg_url, addr, MMTASKS_REMOVED_GRACE_S="0")
        fleet = Fleet(env, addr, pg_url, client, Admin(env))
        try:
            fleet.start(["control"], "control")
            yield fleet
        finally:
            fleet.stop_all()


@pytest.fixture(scope="module")
def control(services: Services, redis_base_url: str) -> Iterator[Fleet]:
    """One fleet for a module: connector and a control worker on a fresh schema and Redis."""
    redis_lib.Redis.from_url(redis_base_url).flushdb()
    schema, pg_url = _schema_url(services)
    client = redis_lib.Redis.from_url(redis_base_url, decode_responses=True)
    try:
        with running_fleet(redis_base_url, pg_url, client) as fleet:
            yield fleet
    finally:
        client.close()
        _drop_schema(services, schema)


@pytest.fixture
def fleet(redis_url: str, pg_url: str, redis_client: redis_lib.Redis) -> Iterator[Fleet]:
    """A fresh fleet for one test: connector and control worker; start symbol workers on it."""
    with running_fleet(redis_url, pg_url, redis_client) as fleet:
        yield fleet


@pytest.fixture
def exchange(fleet: Fleet) -> Iterator[Any]:
    from mmtasks.connector.client import ExchangeClient

    client = ExchangeClient(fleet.addr)
    yield client
    client.close()


@pytest.fixture
def sim(fleet: Fleet) -> Iterator[Any]:
    from mmtasks.connector.sim_client import SimControlClient

    client = SimControlClient(fleet.addr)
    yield client
    client.close()


def registry(pg_url: str) -> dict[str, tuple[str, int]]:
    """Return symbol -> (status, version) of every registry row."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT symbol, status, version FROM symbol_registry").fetchall()
    return {symbol: (status, version) for symbol, status, version in rows}


def audit(pg_url: str, symbol: str) -> list[tuple[str, str | None]]:
    """Return (action, task_id) of symbol's audit rows, oldest first."""
    with psycopg.connect(pg_url) as conn:
        return [
            (a, t)
            for a, t in conn.execute(
                "SELECT action, task_id FROM registry_audit WHERE symbol = %s ORDER BY id",
                (symbol,),
            ).fetchall()
        ]


def resting(exchange: Any, symbol: str) -> list[tuple[str, Decimal]]:
    """Return the symbol's open orders at the exchange as sorted (side, price) pairs."""
    return sorted((o.side.value, o.price) for o in exchange.open_orders(symbol))

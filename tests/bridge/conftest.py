"""Fixtures for bridge tests: the bridge as a real process, a fault-injecting fake connector,
and a look into the Celery queues the bridge feeds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib

from tests.bridge.fake_connector import FakeConnector
from tests.kit.env import fleet_env, point_app_at
from tests.kit.poll import eventually
from tests.kit.procs import BridgeProc, Worker, Workers

__all__ = ["BridgeProc", "inbox", "queued_tasks", "wait_connected"]


@pytest.fixture(autouse=True)
def _celery_app_on_test_redis(redis_base_url: str) -> None:
    """Point the in-test Celery app (used to send tasks) at the session's Redis database."""
    point_app_at(redis_base_url)


@pytest.fixture
def bridge_env(redis_url: str, pg_url: str) -> dict[str, str]:
    """Return the environment of a bridge on the test's Redis and (empty) Postgres schema."""
    return fleet_env(redis_url, pg_url, LOG_LEVEL="INFO")


@pytest.fixture
def start_bridge(bridge_env: dict[str, str]) -> Iterator[Callable[..., BridgeProc]]:
    """Start bridges on demand (connector address first); stop them after the test."""
    started: list[BridgeProc] = []

    def start(addr: str, *args: str, env: dict[str, str] | None = None) -> BridgeProc:
        proc = BridgeProc(list(args), {**bridge_env, "CONNECTOR_ADDR": addr, **(env or {})})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def fake() -> Iterator[FakeConnector]:
    server = FakeConnector()
    yield server
    server.stop()


def queued_tasks(client: redis_lib.Redis, queue: str) -> list[tuple[str, list[object]]]:
    """Return (task name, args) of the messages waiting in a Celery queue, oldest first."""
    out = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # kombu LPUSHes, consumers BRPOP
        message = json.loads(raw)
        args = json.loads(_body(message))[0]
        out.append((message["headers"]["task"], args))
    return out


def _body(message: dict[str, object]) -> str:
    import base64

    body = message["body"]
    assert isinstance(body, str)
    return (
        base64.b64decode(body).decode()
        if message.get("properties", {}).get(  # type: ignore[union-attr]
            "body_encoding"
        )
        == "base64"
        else body
    )


def inbox(client: redis_lib.Redis, symbol: str) -> list[tuple[int, dict[str, object]]]:
    """Return (seq, event) of a symbol's inbox, in seq order."""
    from mmtasks.state.keys import keys_for

    rows = client.xrange(keys_for(symbol).inbox)
    return [(int(str(eid).split("-")[0]), json.loads(fields["e"])) for eid, fields in rows]


def wait_connected(client: redis_lib.Redis, timeout_s: float = 20) -> None:
    """Wait until the bridge's heartbeat says it is connected."""
    from mmtasks.state.keys import BRIDGE_HEARTBEAT

    eventually(lambda: client.hget(BRIDGE_HEARTBEAT, "state") == "connected", timeout_s)


@pytest.fixture
def ledger_url(pg_url: str) -> str:
    """Return a Postgres URL with the schema migrated."""
    from mmtasks.registry.migrate import migrate

    migrate(pg_url)
    return pg_url


@pytest.fixture
def start_worker(redis_url: str, ledger_url: str) -> Iterator[Callable[..., Worker]]:
    """Start real symbol workers on demand (queues, connector address); stop them after."""
    launchers: list[Workers] = []

    def start(queues: list[str], addr: str) -> Worker:
        launchers.append(Workers(fleet_env(redis_url, ledger_url, addr)))
        return launchers[-1].start(queues, name="bridge-e2e")

    yield start
    for launcher in launchers:
        launcher.stop_all()

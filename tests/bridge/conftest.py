"""Fixtures for bridge tests: the bridge as a real process, a fault-injecting fake connector,
and a look into the Celery queues the bridge feeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from tests.bridge.fake_connector import FakeConnector
from tests.helpers import eventually
from tests.procs import LOG_DIR, ROOT, Worker


@pytest.fixture(autouse=True)
def _celery_app_on_test_redis(redis_base_url: str) -> None:
    """Point the in-test Celery app (used to send tasks) at the session's Redis database."""
    from mmtasks.celery import app, use_services
    from mmtasks.settings import settings_for

    use_services(app, settings_for(redis_base_url))


class BridgeProc:
    """A real `python -m bridge` process."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"bridge-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--resync-s", "0.5", "--backoff-cap-s", "1", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, timeout_s: float = 10) -> int:
        """SIGTERM the bridge and return its exit code (SIGKILL if it overstays)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def log_text(self) -> str:
        return Path(self.log_path).read_text(errors="replace")


@pytest.fixture
def bridge_env(redis_url: str, pg_url: str) -> dict[str, str]:
    """Return the environment of a bridge on the test's Redis and (empty) Postgres schema."""
    return {
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "DATABASE_URL": pg_url,
        "LOG_LEVEL": "INFO",
    }


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
    started: list[Worker] = []

    def start(queues: list[str], addr: str) -> Worker:
        env = {
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "DATABASE_URL": ledger_url,
            "CONNECTOR_ADDR": addr,
        }
        worker = Worker(queues, env, name="bridge-e2e")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()

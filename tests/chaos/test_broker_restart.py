"""A real restart of redis-server, the broker: a symbol worker reconnects and consumes again.

A worker with acknowledged-late tasks in flight, a BRPOP waiting and the loss noticed first on
its remote-control subscription used to exit with `AttributeError: 'NoneType' object has no
attribute 'hostname'` (kombu's `_connparams`, restoring the unacked messages after Celery had
dropped the connection's transport); `mmtasks.celery.BrokerLossConsumer` keeps it alive.
The subscription's connection is killed just before the server, so every restart meets that
order (a plain restart meets it only when the worker happens to read that socket first).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from kombu.exceptions import OperationalError

from chaos.fleet import RedisServer
from mmtasks.celery import make_app
from mmtasks.settings import settings_for
from tests.chaos.hold_task import HOLD_TASK
from tests.kit.env import fleet_env
from tests.kit.poll import eventually
from tests.kit.procs import Worker

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

QUEUE = "brokerusdt"
IN_FLIGHT = 3  # fewer than the pool's 8 threads: the worker keeps a BRPOP waiting beside them
RESTARTS = 3
DOWN_S = 1.0  # long enough for Celery's teardown to find the server gone


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    """Run a private redis-server that the test may kill and start again on the same port."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def broker_app(broker: RedisServer) -> Iterator[Any]:
    """Return a Celery app (the workers' configuration) on the private broker."""
    celery_app = make_app(settings_for(broker.url))
    yield celery_app
    celery_app.close()


@pytest.fixture
def worker(broker: RedisServer, tmp_path: Path) -> Iterator[Worker]:
    """Run a symbol worker in the production layout (a pool of threads) on the private broker."""
    env = fleet_env(broker.url, MMTASKS_DATA_DIR=str(tmp_path))
    proc = Worker([QUEUE], env, name="broker-restart", include=["tests.chaos.hold_task"])
    yield proc
    proc.stop()


def answers(celery_app: Any, worker: Worker) -> bool:
    """Return True when the worker runs and answers a remote-control ping on the broker."""
    assert worker.proc.poll() is None, f"worker exited, see {worker.log_path}"
    try:
        return bool(celery_app.control.ping(destination=[worker.name], timeout=0.5))
    except (OSError, redis_lib.RedisError, OperationalError):  # the test's own, reconnecting
        return False


def running(celery_app: Any, worker: Worker) -> int:
    """Return how many tasks the worker is running now."""
    active = celery_app.control.inspect(destination=[worker.name], timeout=0.5).active()
    return len((active or {}).get(worker.name, []))


def restart_broker(broker: RedisServer) -> None:
    """Kill the subscriptions' connections and, at once, the server; start an empty one."""
    redis_lib.Redis.from_url(broker.url).client_kill_filter(_type="pubsub")
    broker.kill()
    time.sleep(DOWN_S)  # the outage itself
    broker.start()


def done_tokens(path: Path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


def test_worker_keeps_consuming_after_redis_server_restarts(
    broker: RedisServer, broker_app: Any, worker: Worker, tmp_path: Path
) -> None:
    # Arrange: the worker is up on the private broker.
    done = tmp_path / "done.txt"
    eventually(lambda: answers(broker_app, worker), timeout_s=60)

    for restart in range(RESTARTS):
        # Act: tasks acknowledged late are running when redis-server goes and comes back empty.
        for i in range(IN_FLIGHT):
            broker_app.send_task(
                HOLD_TASK, args=[2.0, str(done), f"held-{restart}-{i}"], queue=QUEUE
            )
        eventually(lambda: running(broker_app, worker) == IN_FLIGHT, timeout_s=20)
        restart_broker(broker)

        # Assert: the same process reconnects to the new server.
        eventually(lambda: answers(broker_app, worker), timeout_s=30)

    # Assert: it consumes what is sent after the last restart, and still runs.
    after = {f"after-{i}" for i in range(IN_FLIGHT)}
    for token in sorted(after):
        broker_app.send_task(HOLD_TASK, args=[0.0, str(done), token], queue=QUEUE)
    eventually(lambda: after <= done_tokens(done), timeout_s=20)
    assert worker.proc.poll() is None, f"worker exited, see {worker.log_path}"

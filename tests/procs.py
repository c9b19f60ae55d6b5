"""Real processes for integration tests: the connector, Celery workers, and an order pump."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import redis as redis_lib

from tests.helpers import eventually

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".data" / "test-logs"


def _log_file(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """Stop proc with SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def connector(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `python -m mmtasks.connector --sim` on an ephemeral port; yield its address."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        log = _log_file("connector").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mmtasks.connector",
                "--sim",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool:
                assert proc.poll() is None, f"connector exited early, see {log.name}"
                return port_file.exists() and port_file.read_text().strip() != ""

            eventually(ready, timeout_s=20)
            yield f"127.0.0.1:{port_file.read_text().strip()}"
        finally:
            stop(proc)
            log.close()


class Worker:
    """A real `celery -A mmtasks worker` process consuming the given queues."""

    def __init__(
        self, queues: list[str], env: dict[str, str], name: str = "w", pool: str = "prefork"
    ) -> None:
        self.queues = queues
        self.name = f"{name}-{os.getpid()}-{time.monotonic_ns() % 100000}@test"
        self.log_path = _log_file(f"worker-{name}")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mmtasks",
                "worker",
                "-Q",
                ",".join(queues),
                "-n",
                self.name,
                "--loglevel",
                "INFO",
                "--pool",
                pool,
                "--without-gossip",
                "--without-mingle",
                "-c",
                "1",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (a crash, not a shutdown)."""
        if self.proc.poll() is None:
            children = subprocess.run(
                ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            self.proc.kill()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop(self.proc, timeout_s=15)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


class OrderPump:
    """Stands in for the bridge's order path: connector order stream -> symbol inboxes."""

    def __init__(
        self,
        addr: str,
        redis_url: str,
        symbols: set[str],
        chaos_symbols: frozenset[str] = frozenset(),
        seed: int = 7,
    ) -> None:
        """Pump order updates; for chaos_symbols every update is appended again later, out of
        order, and wake tasks are duplicated and shuffled, as a flaky bridge and broker would."""
        import random

        from mmtasks.celery import app
        from mmtasks.pb.mm.v1 import exchange_pb2, exchange_pb2_grpc

        self.app = app
        self.redis = redis_lib.Redis.from_url(redis_url)
        self.symbols = symbols
        self.channel = grpc.insecure_channel(addr)
        self.stub = exchange_pb2_grpc.ExchangeServiceStub(self.channel)
        self._pb = exchange_pb2
        self.appended = 0
        self.chaos_symbols = chaos_symbols
        self._rng = random.Random(seed)
        self._replay: list[object] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        eventually(self.ready.is_set, timeout_s=10)

    def _run(self) -> None:
        from bridge.convert import order_event_from_pb
        from mmtasks.enqueue import append_event

        stream = self.stub.SubscribeOrders(self._pb.SubscribeOrdersRequest())
        self._stream = stream
        self.ready.set()
        try:
            for update in stream:
                if update.order.symbol not in self.symbols:
                    continue
                event = order_event_from_pb(update, self.symbols)
                append_event(self.redis, self.app, event)
                self.appended += 1
                if event.symbol in self.chaos_symbols:
                    self._chaos(event)
        except grpc.RpcError:
            return

    def _chaos(self, event: object) -> None:
        from mmtasks.enqueue import TASK_FOR_KIND, append_event, wake

        self._replay.append(event)
        if self._rng.random() < 0.5:
            return
        batch, self._replay = self._replay, []
        self._rng.shuffle(batch)
        for old in batch:
            append_event(self.redis, self.app, old)  # type: ignore[arg-type]
            self.appended += 1
        for task in self._rng.sample(sorted(TASK_FOR_KIND.values()), 2):
            wake(self.app, event.symbol, task)  # type: ignore[attr-defined]

    def flush_chaos(self) -> None:
        """Deliver the duplicates still held back, in shuffled order."""
        from mmtasks.enqueue import append_event

        batch, self._replay = self._replay, []
        self._rng.shuffle(batch)
        for old in batch:
            append_event(self.redis, self.app, old)  # type: ignore[arg-type]

    def close(self) -> None:
        self._stream.cancel()
        self.channel.close()

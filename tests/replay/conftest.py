"""Fixtures for the live = replay tests: the integration fleet (reused) and a recorder process.

The fleet is the one tests/integration/test_grid_paths.py drives (connector with the feed off,
bridge, one real worker, Redis, Postgres); its fixtures are imported, not copied. The Celery
app is pointed at the test's Redis only by the live tests (`live_app`), so the pure replay
tests need no server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import eventually
from tests.integration import conftest as integration
from tests.integration import test_grid_paths as grid_paths
from tests.procs import LOG_DIR, ROOT, stop

# The integration fleet's fixtures, reused as they are.
exchange = integration.exchange
exchange_addr = integration.exchange_addr
fleet_env = integration.fleet_env
ledger_url = integration.ledger_url
sim = integration.sim
workers = integration.workers
fleet = grid_paths.fleet
start_bridge = grid_paths.start_bridge


@pytest.fixture
def venue_kind() -> str:
    """The fleet's connector: the simulated one (grid_paths also runs it on Binance's API)."""
    return "sim"


@pytest.fixture
def live_app(redis_base_url: str) -> None:
    """Point the in-test Celery app (used to send tasks) at the session's Redis database."""
    from mmtasks.celery import app, use_services
    from mmtasks.settings import settings_for

    use_services(app, settings_for(redis_base_url))


class RecorderProc:
    """A real `python -m mmtasks.replay.record` process writing under data_dir/recordings."""

    def __init__(self, addr: str, symbols: str, data_dir: Path) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.root = data_dir / "recordings"
        self.log_path = LOG_DIR / f"recorder-{os.getpid()}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "mmtasks.replay.record", "--symbols", symbols),
                *("--connector", addr, "--data-dir", str(data_dir)),
            ],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "INFO"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def subscribed() -> bool:
            assert self.proc.poll() is None, f"recorder exited, see {self.log_path}"
            return (self.root / "recorder.json").exists()

        eventually(subscribed, timeout_s=20)

    def stop(self) -> int:
        """SIGTERM the recorder (it finishes its files) and return its exit code."""
        stop(self.proc)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def recorder(exchange_addr: str, tmp_path: Path) -> Iterator[Callable[[str], RecorderProc]]:
    """Start recorders on the test's connector on demand; stop them after the test."""
    started: list[RecorderProc] = []

    def start(symbols: str) -> RecorderProc:
        proc = RecorderProc(exchange_addr, symbols, tmp_path / "data")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop(proc.proc)

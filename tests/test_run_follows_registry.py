"""The local fleet follows the registry: `mmtasks add` attaches the symbol to a worker process
that trades it, `remove` detaches it; a symbol worker that dies is started again with its
queues as they are then.

`python -m mmtasks.run` on the test servers with one config symbol; an operator adds SOLUSDT (a
symbol the simulated exchange lists but the run did not start with) through the CLI, exactly as
the README says, sees it trade, then removes it and its worker stops consuming it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from mmtasks.assign import bucket_of, node_name
from mmtasks.celery import make_app
from mmtasks.registry.workers import consumers_by_queue
from mmtasks.settings import settings_for
from tests.bridge.test_run_smoke import processes_with, runner_env
from tests.helpers import eventually
from tests.procs import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]
ADDED = "SOLUSDT"


def worker_pids(marker: str, queue: str) -> list[int]:
    """Return the pids of this run's Celery workers started with queue among their -Q."""
    found = []
    for pid in processes_with(marker):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        queues = argv[argv.index(b"-Q") + 1].split(b",") if b"-Q" in argv else []
        if b"worker" in argv and queue.encode() in queues:
            found.append(pid)
    return found


def ledger_fills(pg_url: str, symbol: str) -> int:
    """Return the symbol's fills in the ledger (0 until the runner has migrated it)."""
    try:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT count(*) FROM fills WHERE symbol = %s", (symbol,)).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def test_a_symbol_added_while_the_fleet_runs_gets_a_worker_and_removing_it_stops_the_worker(
    redis_url: str, pg_url: str, tmp_path: Path
) -> None:
    marker, env = runner_env(redis_url, pg_url, "MMTASKS_RUN_FOLLOW")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmtasks.run",
            "--symbols",
            "BTCUSDT",
            "--tick-ms",
            "100",
            "--web-port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(run.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()

    def mmtasks(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mmtasks.cli", *args],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    app = make_app(settings_for(redis_url, pg_url))

    def consumers(queue: str) -> list[str]:
        return consumers_by_queue(app).get(queue, [])

    try:
        eventually(lambda: ledger_fills(pg_url, "BTCUSDT") > 0, 90, 0.5)
        assert consumers(ADDED.lower()) == []

        added = mmtasks(
            "add", ADDED, "--mode", "neutral", "--interval", "0.2", "--order-notional", "10",
            "--levels", "4", "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        assert json.loads(added.stdout)["ok"] is True

        # It is attached to the symbol worker process the assignment names (one process
        # holds many symbols: mmtasks/assign.py), and trades.
        eventually(lambda: consumers(ADDED.lower()), 30, 0.5)
        eventually(lambda: ledger_fills(pg_url, ADDED) > 0, 90, 0.5)
        node = node_name(bucket_of(ADDED, 1))
        assert any(f"{ADDED} attached to {node}" in line for line in output), output[-20:]
        assert consumers(ADDED.lower()) == consumers("btcusdt")  # the same process

        # Killed (-9), the symbol worker is started again with its queues as they are now, the
        # symbol attached while it ran among them, and trades on.
        [killed] = worker_pids(marker, "btcusdt")
        os.kill(killed, signal.SIGKILL)
        eventually(lambda: worker_pids(marker, ADDED.lower()) not in ([], [killed]), 60, 0.5)
        assert killed not in worker_pids(marker, "btcusdt")
        eventually(lambda: consumers(ADDED.lower()) == consumers("btcusdt") != [], 60, 0.5)
        before = ledger_fills(pg_url, ADDED)
        eventually(lambda: ledger_fills(pg_url, ADDED) > before, 120, 0.5)
        pids = worker_pids(marker, "btcusdt")

        removed = mmtasks("remove", ADDED, "--force", "--json")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        eventually(lambda: not consumers(ADDED.lower()), 60, 0.5)
        said = f"{ADDED} detached from {node} (removed)"

        def stop_said() -> bool:
            assert any(said in line for line in output), output[-20:]
            return True

        eventually(stop_said, 10, 0.2)
        # The other symbol's process kept running all along: attached and detached, not
        # restarted.
        assert worker_pids(marker, "btcusdt") == pids
    finally:
        run.send_signal(signal.SIGINT)
        code = run.wait(60)
        reader.join(10)
    assert code == 0, "".join(output[-40:])
    assert processes_with(marker) == []

"""The README's run command on a bare machine: no Redis, no Postgres, no network but loopback.

The runner is started the way a new user starts it, from this checkout's venv, inside a new
network namespace (`unshare -n`) where nothing listens on 6379 or 5432 and no URL is set, so
every service it talks to must be one it resolved itself (the embedded Redis and Postgres).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.bridge.test_run_smoke import processes_with, table_rows
from tests.kit.procs import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SERVICE_VARS = ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "CONNECTOR_ADDR")


def _namespaces_permitted() -> str | None:
    """Return why a loopback-only network namespace cannot be made here, or None."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "needs unshare (util-linux) and ip (iproute2)"
    probe = subprocess.run(
        ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return f"unshare -n is not permitted here: {probe.stderr.decode().strip()}"
    return None


def _read_until_both_fill(proc: subprocess.Popen[str], until_s: float) -> str:
    """Return the runner's stdout once both symbols show a fill (or time runs out)."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    text = ""
    deadline = time.monotonic() + until_s
    while time.monotonic() < deadline and proc.poll() is None:
        if not selector.select(timeout=1):
            continue
        line = proc.stdout.readline()
        text += line
        tables = text.split("mmtasks fleet, ")[1:]
        if len(tables) >= 2:
            rows = table_rows(tables[-2])  # the last complete table
            if set(rows) == {"BTCUSDT", "ETHUSDT"} and all(
                int(row["fills"]) > 0 for row in rows.values()
            ):
                break
    return text


@pytest.mark.parametrize("venue", ["", "binanceusdm"])
def test_make_run_trades_on_a_bare_machine_and_ctrl_c_leaves_no_process(
    tmp_path: Path, venue: str
) -> None:
    # venue: the whole fleet (bridge, workers, beat, web) through the real-venue connector
    # (ccxt) on the Binance-speaking simulator, as `make run ARGS="--venue binanceusdm"`.
    reason = _namespaces_permitted()
    if reason:
        pytest.skip(reason)
    marker = f"MMTASKS_BARE={uuid.uuid4().hex}"
    key, value = marker.split("=")
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env |= {key: value, "MMTASKS_SERVICES_FILE": str(tmp_path / "none.json")}
    args = f" --venue {venue}" if venue else ""
    cmd = f"ip link set lo up && exec {sys.executable} -m mmtasks.run --data-dir {tmp_path}{args}"

    proc = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", cmd],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        head = _read_until_both_fill(proc, until_s=120)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the runner
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()

    transcript = head + rest
    assert proc.returncode == 0, transcript[-4000:]
    preamble, *tables = head.split("mmtasks fleet, ")
    rows = table_rows(tables[-2]) if len(tables) >= 2 else {}
    assert set(rows) == {"BTCUSDT", "ETHUSDT"}, transcript[-4000:]
    assert all(int(row["fills"]) > 0 for row in rows.values()), tables[-2]
    assert preamble.count("(embedded)") == 2, preamble  # no machine's servers were found
    assert ("Binance-speaking simulator" in preamble) == bool(venue), preamble
    assert "stopped" in rest
    assert processes_with(marker) == []

"""`python -m mmtasks.run --seconds 20` on the test servers: starts, shows status, cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.procs import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def processes_with(marker: str) -> list[int]:
    """Return the pids whose environment carries marker (the run's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def test_the_runner_starts_the_fleet_shows_status_and_leaves_nothing_behind(
    redis_url: str, pg_url: str, tmp_path: Path
) -> None:
    marker = f"MMTASKS_RUN_SMOKE={uuid.uuid4().hex}"
    key, value = marker.split("=")
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": pg_url, key: value}
    env.pop("CELERY_BROKER_URL", None)

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmtasks.run",
            "--seconds",
            "20",
            "--tick-ms",
            "100",
            "--data-dir",
            str(tmp_path),
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=80,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    tables = run.stdout.split("mmtasks fleet, ")[1:]
    assert len(tables) >= 3
    rows = tables[-1].split("\n\n")[0].splitlines()[2:]  # after the title and header lines
    last = {line.split()[0]: line.split() for line in rows}
    assert set(last) == {"BTCUSDT", "ETHUSDT"}
    assert all(row[1] != "-" for row in last.values()), tables[-1]  # prices flowed
    assert "bridge connected" in tables[-1]
    assert processes_with(marker) == []
    assert (tmp_path / "logs" / "bridge.log").exists()

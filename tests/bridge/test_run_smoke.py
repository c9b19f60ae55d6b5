"""`python -m mmtasks.run --seconds 20` on the test servers: starts, shows status, cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.kit.procs import ROOT

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


def table_rows(table: str) -> dict[str, dict[str, str]]:
    """Return {symbol: {column: cell}} from one status table printed by the runner."""
    lines = table.split("\n\n", maxsplit=1)[0].splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["symbol"])
    header = lines[header_at].split()
    return {
        cells[0]: dict(zip(header, cells, strict=True))
        for cells in (line.split() for line in lines[header_at + 1 :])
        if len(cells) == len(header)
    }


def runner_env(redis_url: str, pg_url: str, name: str) -> tuple[str, dict[str, str]]:
    """Return (marker, environment) for a runner on the test's servers; children inherit it."""
    marker = f"{name}={uuid.uuid4().hex}"
    key, value = marker.split("=")
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": pg_url, key: value}
    env.pop("CELERY_BROKER_URL", None)
    return marker, env


def test_the_runner_starts_the_fleet_shows_status_and_leaves_nothing_behind(
    redis_url: str, pg_url: str, tmp_path: Path
) -> None:
    marker, env = runner_env(redis_url, pg_url, "MMTASKS_RUN_SMOKE")

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
            "--web-port",
            "0",  # any free port: tests/test_run_ports.py holds 8000 meanwhile in parallel runs
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
    last = table_rows(tables[-1])
    assert set(last) == {"BTCUSDT", "ETHUSDT"}
    assert all(row["price"] != "-" for row in last.values()), tables[-1]  # prices flowed
    assert "bridge connected" in tables[-1]
    assert processes_with(marker) == []
    assert (tmp_path / "logs" / "bridge.log").exists()
